-- Market baskets: association rules by FP-growth over all order lines, and recommendations at the till
\echo 'retailiq.assoc_rules_lines(order_id, product_id, min_support 0.0005, min_confidence 0.2) over retail.order_lines:'
CREATE TEMP TABLE demo_rules AS
    SELECT retailiq.assoc_rules_lines(order_id, product_id, 0.0005, 0.2) AS rules FROM retail.order_lines;
SELECT to_char((SELECT count(DISTINCT order_id) FROM retail.order_lines), 'FM999,999,999') AS baskets,
       to_char(cardinality(rules), 'FM999,999') AS rules
FROM demo_rules;

\echo 'The planted "bought together" rules (retail.planted_rules) found among them:'
CREATE TEMP TABLE demo_found AS
    SELECT p.antecedent_product_id, p.consequent_product_id, p.probability, r.confidence, r.lift
    FROM retail.planted_rules p
    LEFT JOIN (SELECT (unnest(rules)).* FROM demo_rules) r
           ON r.antecedent = ARRAY[p.antecedent_product_id::bigint]
          AND r.consequent = ARRAY[p.consequent_product_id::bigint];
SELECT count(*) AS planted, count(confidence) AS found,
       round(avg(abs(confidence - probability))::numeric, 3) AS "mean |confidence - planted probability|"
FROM demo_found;

\echo 'The five planted pairs with the highest lift, by name:'
SELECT a.name AS "bought", c.name AS "also bought", f.probability AS planted,
       round(f.confidence::numeric, 3) AS confidence, round(f.lift::numeric, 1) AS lift
FROM demo_found f
JOIN retail.products a ON a.product_id = f.antecedent_product_id
JOIN retail.products c ON c.product_id = f.consequent_product_id
ORDER BY f.lift DESC NULLS LAST LIMIT 5;

\echo 'At the till: retailiq.recommend(cart, rules, 3) for a cart holding two planted antecedents:'
SELECT p.name AS recommend, round(r.confidence::numeric, 3) AS confidence, round(r.lift::numeric, 1) AS lift,
       (SELECT string_agg(name, ' + ' ORDER BY name) FROM retail.products WHERE product_id = ANY (r.antecedent)) AS because
FROM demo_rules d,
     retailiq.recommend((SELECT array_agg(antecedent_product_id::bigint ORDER BY antecedent_product_id)
                         FROM (SELECT antecedent_product_id FROM retail.planted_rules
                               ORDER BY antecedent_product_id LIMIT 2) x), d.rules, 3) r
JOIN retail.products p ON p.product_id = r.item;
