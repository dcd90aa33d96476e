-- The lease and history of recurring jobs (one row per job).

-- name: take_job_lease
-- Succeeds (changes one row) unless a run started after :stale_before is still going.
INSERT INTO job_runs (job, started_at) VALUES (:job, :now)
ON CONFLICT (job) DO UPDATE SET started_at = excluded.started_at, finished_at = NULL
WHERE finished_at IS NOT NULL OR started_at < :stale_before;

-- name: finish_job_run
UPDATE job_runs SET finished_at = :now WHERE job = :job;

-- name: job_run
SELECT started_at, finished_at FROM job_runs WHERE job = :job;

-- name: note_job_known
INSERT OR IGNORE INTO job_runs (job, started_at, finished_at) VALUES (:job, :now, :now);
