-- Upgrade from 0.1.0 to 0.2.0, hand-written part run last: data of existing tables that
-- changed meaning (tools/upgrade_script.pl; doc/operations.md, "Changing SQL objects").

-- the registered tables of 0.1.0 into the one registry (before part)
INSERT INTO retailiq.source (role, name, relation, columns, registered_at)
SELECT r.role, '', r.relation, (SELECT jsonb_object_agg(c.column_name, c.column_name)
                                  FROM retailiq_internal.source_contract() c
                                 WHERE c.role = r.role
                                   AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = r.relation
                                                  AND a.attname = c.column_name AND NOT a.attisdropped)),
       e.registered_at
  FROM riq_old_event_source e
 CROSS JOIN LATERAL (VALUES ('events', e.events), ('orders', e.orders), ('order_lines', e.order_lines),
                            ('products', e.products), ('store_zones', e.store_zones)) AS r(role, relation)
ON CONFLICT DO NOTHING;
INSERT INTO retailiq.source (role, name, relation, columns, registered_by, registered_at)
SELECT 'sales', s.name, s.relation,
       jsonb_build_object('series', s.series_column, 'date', s.date_column, 'value', s.value_column,
                          'factors', to_jsonb(s.exog_columns)),
       s.registered_by, s.registered_at
  FROM riq_old_sales_source s
ON CONFLICT DO NOTHING;
INSERT INTO retailiq.sales_source_state (name, method, options, min_model_version, last_refreshed_at,
                                         last_model_version, last_model_reused, last_rows)
SELECT s.name, s.method, s.options, s.min_model_version, s.last_refreshed_at, s.last_model_version,
       s.last_model_reused, s.last_rows
  FROM riq_old_sales_source s
ON CONFLICT DO NOTHING;
DROP TABLE riq_old_event_source, riq_old_sales_source;
