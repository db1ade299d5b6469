-- Placeholder for version 15, which another branch of issue 16 takes (the runner wants versions without gaps, and
-- this branch's search change is version 16). At merge: delete this file, keep the other branch's 0015.
SELECT 1;
