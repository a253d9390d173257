-- privileges: the last part of the install script, run after every part has created its
-- objects.
--
-- Aggregate support functions (transition, combine, serialize, deserialize, final; all in
-- schema retailiq_internal, named <what>_accum/_combine/_serialize/_deserialize/_final) are
-- nobody's to call: PostgreSQL checks EXECUTE on them against the aggregate's owner (the
-- role that created the extension), not against the caller, so retailiq's own aggregates
-- keep working for every role while no other role can wrap a support function in an
-- aggregate of its own and hand it a state it forged (CREATE AGGREGATE checks the
-- creator's EXECUTE right). The C functions still check every state they are given.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT DISTINCT fn::regprocedure
        FROM pg_catalog.pg_aggregate a
        JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
        CROSS JOIN LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn),
                                   (a.aggserialfn), (a.aggdeserialfn), (a.aggmtransfn),
                                   (a.aggminvtransfn), (a.aggmfinalfn)) s(fn)
        WHERE p.pronamespace = 'retailiq'::regnamespace AND s.fn <> 0
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END
$$;

-- Every other function in retailiq_internal is machinery too: triggers, the helpers of the
-- API's plpgsql functions, developer checks. None is executable by PUBLIC, except the
-- helpers below: API functions that run with the caller's rights (so that the caller's
-- table privileges, row security and masking apply to what they read) call them, and
-- PostgreSQL checks EXECUTE against the caller. Each takes only its arguments, reads or
-- writes nothing the caller could not, and checks its input as the API does. Trigger
-- functions need no grant (EXECUTE is checked when a trigger is created, not when it fires).
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA retailiq_internal FROM PUBLIC;
GRANT USAGE ON SCHEMA retailiq_internal TO PUBLIC;
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
        FROM pg_catalog.pg_proc p
        WHERE p.pronamespace = 'retailiq_internal'::regnamespace
          AND p.proname = ANY (ARRAY[
            -- distributed association rules (assoc_rules_distributed, issue 19)
            'basket_item_set', 'itemset_count',
            -- its support functions: Citus checks EXECUTE on them for the calling role
            'itemset_count_accum', 'itemset_count_combine', 'itemset_count_final',
            -- forecasting operations (refresh_forecasts, backtest, register_sales_source)
            'check_horizons', 'column_base_type', 'forecast_grain', 'forecast_methods',
            'forecast_method_table', 'refresh_source', 'sales_source_fit_query',
            'sales_source_future_exog', 'sales_source_ops_keys', 'sales_source_options',
            'sales_source_query', 'forecast_progress_rows', 'forecast_fit_method',
            -- the two-person rule of sales sources, forecast health and slow movers (issue 24)
            'sales_source_change', 'forecast_issued_record', 'planning_threshold',
            'planning_threshold_table', 'sales_source_named', 'sales_source_last_date',
            'forecast_health_rows', 'forecast_refit_series', 'product_rules',
            -- the source registry's readers (reports, behaviour, churn features, basket)
            'source_column', 'source_contract', 'source_relation', 'source_require',
            'source_row', 'source_sql',
            -- reports and behaviour
            'check_period', 'fmt', 'html', 'svg_bars', 'svg_lines', 'report_bad_grain',
            'report_forecasts', 'report_grain', 'report_range',
            -- the stored days of the reports (src/reports/report_days.sql)
            'report_customers_live', 'report_customers_rows', 'report_day_customers_live',
            'report_day_dwell_live', 'report_day_funnel_live', 'report_day_rows',
            'report_day_sales_live', 'report_days_readable', 'report_dwell_rows', 'report_gaps',
            'report_sources', 'report_day_units_live',
            'model_or_null', 'tag_candidates_sql', 'tag_event_filter',
            -- replenishment (replenishment_plan, replenishment_backtest, safety_stock, the
            -- row security of purchase_order, order_plan and replenishment_parameter)
            'replenishment_order', 'replenishment_simulate', 'replenishment_all_stores',
            'replenishment_defaults', 'replenishment_pooled_levels', 'replenishment_moments',
            -- the scheduler's API (schedule, alter_job, run_job, unschedule, wait_for_job)
            'job_check_session', 'job_not_found',
            -- masking functions (mask_partial) and generate_sample_data
            'privacy_bad_argument',
            'sample_calendar', 'sample_customers', 'sample_events', 'sample_inventory_daily',
            'sample_order_lines', 'sample_orders', 'sample_products', 'sample_promotions',
            'sample_rules', 'sample_stores', 'sample_zones',
            -- marketing (promotion_effects)
            'promotion_coefficients',
            -- refresh_forecasts on a distributed sales table (issue 19): the per-store fits
            -- pushed down to the workers, which check EXECUTE for the caller, and their merge
            'forecast_fit_part', 'forecast_fit_merge', 'relation_is_distributed',
            'sales_source_fit_by_store',
            -- the reports' computed days over distributed tables (issue 19)
            'report_distributed_sql', 'source_distributed',
            -- bgnbd_fit_iterative and gammagamma_fit_iterative run these as the caller (and
            -- Citus checks EXECUTE on their support functions); every state is checked
            'bgnbd_loglik', 'bgnbd_loglik_accum', 'bgnbd_loglik_combine',
            'gammagamma_loglik', 'gammagamma_loglik_accum', 'gammagamma_loglik_combine'])
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
END
$$;
