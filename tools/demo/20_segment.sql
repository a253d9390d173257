-- Customer segmentation: RFM segments and k-means clusters of the sample customers
\echo 'RFM as of the last order date: retailiq.rfm_segments(''retail.orders'', as_of)'
SELECT max(ordered_at) AS as_of FROM retail.orders \gset
SELECT segment, count(*) AS customers, round(avg(recency_days)) AS avg_recency_days,
       round(avg(frequency), 1) AS avg_orders, round(avg(monetary), 2) AS avg_spend
FROM retailiq.rfm_segments('retail.orders', :'as_of')
GROUP BY segment ORDER BY avg(monetary) DESC;
\echo 'k-means (k = 4, standardized) on per-customer behaviour: orders, spend, basket, online share, discount share'
CREATE TEMP TABLE customer_features AS
SELECT customer_id,
       ARRAY[count(*), sum(total_amount), avg(item_count),
             avg((channel = 'online')::int), sum(discount_amount) / nullif(sum(total_amount), 0)]::float8[] AS f
FROM retail.orders GROUP BY customer_id HAVING sum(total_amount) > 0;
SELECT retailiq.kmeans_segment(f, 4) AS m FROM customer_features \gset
SELECT retailiq.model_info(:'m') -> 'metrics' AS metrics;
SELECT cluster, size AS customers, round(centroid[1]::numeric, 1) AS orders,
       round(centroid[2]::numeric, 0) AS spend, round(centroid[3]::numeric, 1) AS items_per_order,
       round(centroid[4]::numeric, 2) AS online_share, round(centroid[5]::numeric, 3) AS discount_share
FROM retailiq.kmeans_centroids(:'m') ORDER BY cluster;
\echo 'How the k-means clusters line up with the planted customer types:'
SELECT customer_type, string_agg(format('%s: %s', cluster, n), ', ' ORDER BY cluster) AS "cluster: customers"
FROM (SELECT p.customer_type, retailiq.kmeans_assign(:'m', a.f) AS cluster, count(*) AS n
      FROM customer_features a JOIN retail.planted_customers p USING (customer_id)
      GROUP BY 1, 2) t
GROUP BY customer_type ORDER BY 1;
