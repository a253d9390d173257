-- privacy: an approval request is valid for at most 7 days, judged by its expiry time, not by
-- comparing intervals (which counts a month as 30 days and a year as 360, while the expiry
-- adds calendar months and years): '1000 years -359993 days' is not "7 days".
BEGIN;
SELECT plan(14);
SET LOCAL client_min_messages = warning;
SET LOCAL timezone = 'UTC';

SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', '1000 years -359993 days')$$,
                 '22023', 'valid_for must end after now and within 7 days', 'years minus days that compare as 7 days are refused');
SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', '1 year -353 days')$$,
                 '22023', NULL, 'one year minus 353 days (12 calendar days) is refused');
SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', '7 days 1 second')$$,
                 '22023', NULL, 'a second over 7 days is refused');
SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', '168 hours 1 second')$$,
                 '22023', NULL, 'so are hours past 7 days');
SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', '1 day -50 hours')$$,
                 '22023', NULL, 'an expiry in the past is refused');
SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', '0 seconds')$$,
                 '22023', NULL, 'an expiry of now is refused');
SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', '-1000 years 365252 days')$$,
                 '22023', NULL, 'days minus years refused when the sum ends too late');
SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', '170000000 years')$$,
                 '22023', NULL, 'an expiry beyond the end of time is refused, not an overflow');
SELECT throws_ok($$SELECT retailiq.request_approval('purge_audit_log', '{}', NULL)$$,
                 '22023', NULL, 'a null valid_for is refused');

SELECT lives_ok($$SELECT retailiq.request_approval('purge_audit_log', '{"n": 1}', '7 days')$$, '7 days is accepted');
SELECT lives_ok($$SELECT retailiq.request_approval('purge_audit_log', '{"n": 2}', '1 month -24 days')$$,
                'a month minus 24 days (4 to 7 calendar days) is accepted');
SELECT lives_ok($$SELECT retailiq.request_approval('purge_audit_log', '{"n": 3}', '1 year -360 days')$$,
                'a year minus 360 days (5 or 6 calendar days) is accepted');
SELECT is((SELECT count(*) FROM retailiq.approval
            WHERE args ? 'n' AND valid_until > requested_at AND valid_until <= requested_at + interval '7 days'),
          3::bigint, 'every accepted request expires within 7 days of being made');
SELECT is((SELECT valid_until - requested_at FROM retailiq.approval WHERE args = '{"n": 1}'),
          interval '7 days', 'and at exactly requested_at + valid_for');

SELECT * FROM finish();
ROLLBACK;
