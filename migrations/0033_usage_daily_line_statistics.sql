-- How many lines a month holds (#23): a report by namespace or workload sums each line's days
-- in one hash table, which the planner picks only when it knows the lines are few. Counted
-- column by column it guesses three to six times too many (a namespace name is one cluster's,
-- a workload one namespace's) and sorts the month instead, taking half again as long or more.
CREATE STATISTICS usage_daily_namespaces_lines (ndistinct)
    ON cluster, namespace, class FROM usage_daily_namespaces;
CREATE STATISTICS usage_daily_groups_lines (ndistinct)
    ON cluster, namespace, team, owner_kind, owner_name, class FROM usage_daily_groups;
