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
