-- Saving and loading named models: each save is a new version.
SELECT retailiq.save_model('demand', '{"kind": "ets", "params": {"alpha": 0.3}}');
SELECT retailiq.save_model('demand', '{"kind": "ets", "params": {"alpha": 0.5}}');
SELECT retailiq.save_model('churn', '{"kind": "bgnbd", "params": {"r": 0.24}}');
SELECT name, version, retailiq.model_kind(model), created_by = current_user AS by_me
FROM retailiq.models ORDER BY name, version;
SELECT retailiq.model_info(retailiq.load_model('demand')) -> 'params' AS newest;
SELECT retailiq.model_info(retailiq.load_model('demand', 1)) -> 'params' AS first;
SELECT retailiq.load_model('nosuch');
SELECT retailiq.load_model('demand', 7);
SELECT retailiq.load_model(NULL);
SELECT retailiq.save_model('', '{"kind": "ets"}');
SELECT retailiq.drop_model('demand', 1), retailiq.drop_model('churn');
SELECT name, version FROM retailiq.models ORDER BY 1, 2;
-- versions continue after the newest kept one
SELECT retailiq.save_model('demand', '{"kind": "ets"}');
SELECT retailiq.drop_model('demand');
