#!/usr/bin/perl
# tools/upgrade_script.pl BEFORE.sql PART.sql... AFTER.sql > retailiq--A--B.sql
#
# Assembles the upgrade script from the previous release to this version (Makefile,
# doc/operations.md "Changing SQL objects"): the hand-written BEFORE part (what the current
# sources cannot do again by themselves: dropping removed objects or functions whose
# signature or result changed, altering tables and types), then every statement of the
# install script's parts made idempotent, then the hand-written AFTER part (data).
#
#   CREATE FUNCTION/PROCEDURE/AGGREGATE/VIEW/TRIGGER  -> CREATE OR REPLACE ...
#   CREATE SCHEMA/SEQUENCE, named CREATE INDEX         -> ... IF NOT EXISTS
#   CREATE POLICY                                      -> DROP POLICY IF EXISTS, CREATE POLICY
#   CREATE TABLE/TYPE/OPERATOR/CAST/DOMAIN, ALTER TABLE ... ADD
#                                                      -> skipped where the object exists
#   unnamed CREATE INDEX                               -> skipped where an equal index exists
#   INSERT (default rows)                              -> rows whose key exists are skipped
#   anything else (COMMENT, GRANT, REVOKE, SELECT, DO) -> as it is (they are idempotent)
# An existing table or type is never changed by this: the BEFORE part does that, and
# `make upgradecheck` shows every difference from a fresh installation.
use strict;
use warnings;

my @files = @ARGV;
die "usage: $0 before.sql part.sql... after.sql\n" if @files < 2;
my $before = shift @files;
my $after = pop @files;

sub slurp { my ($f) = @_; open(my $h, '<', $f) or die "$f: $!\n"; local $/; my $s = <$h>; close $h; return $s; }

# Split SQL text into statements: quotes, dollar quotes, comments, and BEGIN ATOMIC bodies
# (whose CASE ... END and inner semicolons belong to the statement) are respected.
sub statements
{
	my ($sql) = @_;
	my @out;
	my $cur = '';
	my $depth = 0;    # inside BEGIN ATOMIC: +1 for it and for each CASE, -1 for each END
	my $i = 0;
	my $n = length $sql;
	while ($i < $n)
	{
		my $rest = substr($sql, $i);
		if ($rest =~ /^(--[^\n]*\n?)/) { $cur .= $1; $i += length $1; next; }
		# a psql meta-command line (the \echo guard) is a statement of its own
		if ($depth == 0 && $cur =~ /(?:^|\n)[ \t]*$/ && $rest =~ /^(\\[^\n]*\n?)/)
		{
			my $meta = $1;
			push @out, $cur . $meta;
			$cur = '';
			$i += length $meta;
			next;
		}
		if ($rest =~ /^(\/\*.*?\*\/)/s) { $cur .= $1; $i += length $1; next; }
		if ($rest =~ /^('(?:[^']|'')*')/s) { $cur .= $1; $i += length $1; next; }
		if ($rest =~ /^("(?:[^"]|"")*")/s) { $cur .= $1; $i += length $1; next; }
		if ($rest =~ /^(\$([A-Za-z_][A-Za-z0-9_]*)?\$)/)
		{
			my $tag = $1;
			my $end = index($sql, $tag, $i + length $tag);
			die "unterminated dollar quote $tag\n" if $end < 0;
			$cur .= substr($sql, $i, $end + length($tag) - $i);
			$i = $end + length $tag;
			next;
		}
		if ($rest =~ /^(BEGIN\s+ATOMIC)\b/i) { $depth++; $cur .= $1; $i += length $1; next; }
		if ($depth > 0 && $rest =~ /^(CASE)\b/i && $cur !~ /[A-Za-z0-9_]$/) { $depth++; $cur .= $1; $i += 4; next; }
		if ($depth > 0 && $rest =~ /^(END)\b/i && $cur !~ /[A-Za-z0-9_]$/) { $depth--; $cur .= $1; $i += 3; next; }
		my $c = substr($sql, $i, 1);
		$cur .= $c;
		$i++;
		if ($c eq ';' && $depth == 0)
		{
			push @out, $cur;
			$cur = '';
		}
	}
	push @out, $cur if $cur =~ /\S/;
	return @out;
}

# A dollar-quote tag the statement does not contain.
sub quoted
{
	my ($s) = @_;
	my $tag = 'riq_upgrade';
	$tag .= 'x' while index($s, "\$$tag\$") >= 0;
	return "\$$tag\$$s\$$tag\$";
}

sub transform
{
	my ($stmt) = @_;
	# keep the leading comments, work on the statement itself
	my ($lead, $body) = $stmt =~ /^((?:\s+|--[^\n]*\n|\/\*.*?\*\/)*)(.*)$/s;
	return $stmt if $body !~ /\S/;
	return $lead if $body =~ /^\\/;    # the psql guard: once, at the top of the script
	(my $bare = $body) =~ s/;\s*$//s;
	if ($body =~ /^CREATE\s+(FUNCTION|PROCEDURE|AGGREGATE|VIEW|TRIGGER)\b/i)
	{
		$body =~ s/^CREATE\s+/CREATE OR REPLACE /i;
		return $lead . $body;
	}
	if ($body =~ /^CREATE\s+(SCHEMA|SEQUENCE)\s+(?!IF\s)/i)
	{
		$body =~ s/^CREATE\s+(SCHEMA|SEQUENCE)\s+/CREATE $1 IF NOT EXISTS /i;
		return $lead . $body;
	}
	if ($body =~ /^CREATE\s+(UNIQUE\s+)?INDEX\s+(?!ON\b)(?!IF\s)(?!CONCURRENTLY)/i)
	{
		$body =~ s/^CREATE\s+(UNIQUE\s+)?INDEX\s+/'CREATE ' . ($1 ? 'UNIQUE ' : '') . 'INDEX IF NOT EXISTS '/ie;
		return $lead . $body;
	}
	if ($body =~ /^CREATE\s+(UNIQUE\s+)?INDEX\s+ON\b/i)
	{
		return $lead . 'SELECT pg_temp.riq_upgrade_index(' . quoted($bare) . ");\n";
	}
	if ($body =~ /^CREATE\s+POLICY\s+(\S+)\s+ON\s+(\S+)/i)
	{
		# policies are made again as the sources define them
		return $lead . "DROP POLICY IF EXISTS $1 ON $2;\n" . $body;
	}
	if ($body =~ /^(CREATE\s+(TABLE|TYPE|OPERATOR|CAST|DOMAIN|CONSTRAINT\s+TRIGGER)|ALTER\s+TABLE\s+\S+\s+ADD)\b/i)
	{
		return $lead . 'SELECT pg_temp.riq_upgrade_create(' . quoted($bare) . ");\n";
	}
	if ($body =~ /^INSERT\s+INTO\s+([A-Za-z0-9_."]+)/i && $body !~ /\bON\s+CONFLICT\b/i)
	{
		return $lead . 'SELECT pg_temp.riq_upgrade_insert(' . quoted($1) . ', ' . quoted($bare) . ");\n";
	}
	return $stmt;
}

my $helpers = <<'SQL';
-- Helpers of this script (temporary: they go with the session).
CREATE FUNCTION pg_temp.riq_upgrade_create(stmt text) RETURNS void LANGUAGE plpgsql AS $h$
BEGIN
    EXECUTE stmt;
EXCEPTION WHEN duplicate_table OR duplicate_object OR duplicate_column OR duplicate_schema THEN
    NULL;   -- exists since an earlier version: changes to it are in the hand-written part
END $h$;
CREATE FUNCTION pg_temp.riq_upgrade_index(stmt text) RETURNS void LANGUAGE plpgsql AS $h$
DECLARE
    tbl regclass := substring(stmt from '(?i)\sON\s+(?:ONLY\s+)?([A-Za-z0-9_."]+)')::regclass;
    old oid[];
    new oid;
BEGIN
    SELECT coalesce(array_agg(indexrelid), '{}') INTO old FROM pg_index WHERE indrelid = tbl;
    EXECUTE stmt;
    SELECT indexrelid INTO new FROM pg_index WHERE indrelid = tbl AND indexrelid <> ALL (old);
    IF EXISTS (SELECT FROM unnest(old) o
                WHERE regexp_replace(pg_get_indexdef(o), 'INDEX \S+ ON', 'INDEX ON')
                    = regexp_replace(pg_get_indexdef(new), 'INDEX \S+ ON', 'INDEX ON')) THEN
        EXECUTE format('DROP INDEX %s', new::regclass);
    END IF;
END $h$;
-- The transaction (or subtransaction) this script runs in, by a row it writes.
CREATE TEMP TABLE riq_upgrade_marker AS SELECT 1 AS one;
CREATE FUNCTION pg_temp.riq_upgrade_drop_removed() RETURNS void LANGUAGE plpgsql AS $h$
DECLARE
    me xid := (SELECT xmin FROM riq_upgrade_marker);
    f record;
    left_over text;
    progress boolean := true;
BEGIN
    WHILE progress LOOP
        progress := false;
        FOR f IN SELECT p.oid::regprocedure AS fn, p.prokind
                   FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
                   JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'retailiq'
                  WHERE p.xmin <> me AND p.pronamespace <> pg_my_temp_schema()
                  ORDER BY p.prokind = 'a' DESC, p.oid LOOP
            BEGIN
                EXECUTE format('DROP ROUTINE %s', f.fn);
                progress := true;
            EXCEPTION WHEN dependent_objects_still_exist THEN
                NULL;   -- another removed routine uses it: next round
            END;
        END LOOP;
    END LOOP;
    SELECT string_agg(p.oid::regprocedure::text, ', ') INTO left_over
      FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
      JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'retailiq'
     WHERE p.xmin <> me AND p.pronamespace <> pg_my_temp_schema();
    IF left_over IS NOT NULL THEN
        RAISE EXCEPTION 'retailiq functions removed in this version are still in use'
            USING ERRCODE = 'dependent_objects_still_exist', DETAIL = left_over || '.',
                  HINT = 'Drop or change what depends on them (DROP ROUTINE ... shows it), then run ALTER EXTENSION retailiq UPDATE again.';
    END IF;
END $h$;
CREATE FUNCTION pg_temp.riq_upgrade_insert(tbl text, stmt text) RETURNS void LANGUAGE plpgsql AS $h$
BEGIN
    IF EXISTS (SELECT FROM pg_index WHERE indrelid = tbl::regclass AND indisunique) THEN
        EXECUTE stmt || ' ON CONFLICT DO NOTHING';
    ELSE
        EXECUTE format('SELECT EXISTS (SELECT FROM %s)', tbl::regclass) INTO STRICT tbl;
        IF NOT tbl::boolean THEN
            EXECUTE stmt;
        END IF;
    END IF;
END $h$;
SQL

print "-- Generated by tools/upgrade_script.pl from $before, the install script's parts and $after.\n";
print "-- Do not edit: change those files (doc/operations.md, \"Changing SQL objects\").\n";
print "\\echo Use \"ALTER EXTENSION retailiq UPDATE\" to load this file. \\quit\n\n";
print $helpers, "\n";
print "-- ==== before: $before\n", slurp($before), "\n";
for my $f (@files)
{
	print "-- ==== $f\n";
	print transform($_) for statements(slurp($f));
	print "\n";
}
print <<'SQL';
-- ==== functions, procedures and aggregates the sources no longer define: every member
-- routine whose catalogue row this script did not write (CREATE OR REPLACE writes it) goes
SELECT pg_temp.riq_upgrade_drop_removed();

SQL
print "-- ==== after: $after\n", slurp($after), "\n";
print "DROP FUNCTION pg_temp.riq_upgrade_create(text), pg_temp.riq_upgrade_index(text), pg_temp.riq_upgrade_insert(text, text),\n",
  "              pg_temp.riq_upgrade_drop_removed();\nDROP TABLE riq_upgrade_marker;\n";
