-- bench/serve's library: what eye serve reads at a library's size, on a database that
-- `eye db:migrate` has just created. Run by bench/serve with psql; variables:
--   :images   images in media_files (videos come on top: one after every 25 images)
--   :jobs     completed eye.jobs rows, finished within the last 7 days
--   :failed   eye.failed_jobs rows
-- eye.runs is loaded by bench/serve from serve_helpers.py runs. Laravel's jobs and failed_jobs
-- (created by bench/serve from tests/fixtures/upstream_schema.sql) get a few rows here.
-- Every figure is derived from the row number through hashint8, so two loads are equal.
\set ON_ERROR_STOP on

-- media_files: 91.9 % completed, 5 % pending, 3 % failed, 0.1 % processing (a few for over
-- an hour: stuck), 1.5 % soft-deleted, the statuses spread over the whole heap (the worst case
-- for reads that leave an index). One row in 26 is a video. Created one every 90 s, so the
-- library spans about three years. Completed images carry a 512-value embedding (the same
-- one; pgvector stores it out of line, in the TOAST table, as it does real ones), but one in 50
-- has none and one in 100 no description.
CREATE TEMP TABLE params AS
SELECT :images::bigint AS images, (:images::bigint * 26 + 24) / 25 AS total_rows,
       ('[' || array_to_string(array_fill(0.0123::real, ARRAY[512]), ',') || ']')::vector AS embedding;

INSERT INTO media_files (
    user_id, media_type, file_path, original_filename, mime_type, file_size, file_hash, width,
    height, description, detailed_description, meta_tags, face_count, exif_data, camera_make,
    camera_model, processing_status, processing_started_at, processing_completed_at,
    processing_error, processing_attempts, created_at, updated_at, deleted_at, embedding)
SELECT 1 + g % 3, kind,
       format('media/%s/%s/%s_%s.%s', 2024 + g / 400000, 1 + (g / 33000) % 12,
              CASE WHEN kind = 'image' THEN 'IMG' ELSE 'VID' END, g,
              CASE WHEN kind = 'image' THEN 'jpg' ELSE 'mp4' END),
       format('%s_%s.%s', CASE WHEN kind = 'image' THEN 'IMG' ELSE 'VID' END, g,
              CASE WHEN kind = 'image' THEN 'jpg' ELSE 'mp4' END),
       CASE WHEN kind = 'image' THEN 'image/jpeg' ELSE 'video/mp4' END,
       CASE WHEN kind = 'image' THEN 800000 + h2 * 4000 ELSE 20000000 + h2 * 90000 END,
       md5(g::text) || md5((g + 1000003)::text),
       CASE WHEN kind = 'image' THEN 4032 ELSE 1920 END,
       CASE WHEN kind = 'image' THEN 3024 ELSE 1080 END,
       CASE WHEN status = 'completed' AND g % 100 <> 17 THEN
           format('A %s photo of %s near the %s, taken in the %s; %s people, calm light.',
                  (ARRAY['bright', 'dim', 'warm', 'cold', 'hazy'])[1 + h2 % 5],
                  (ARRAY['a dog', 'two children', 'a bicycle', 'a plate of food', 'a street'])[1 + h3 % 5],
                  (ARRAY['sea', 'station', 'park', 'kitchen', 'mountains'])[1 + (h2 + h3) % 5],
                  (ARRAY['morning', 'afternoon', 'evening'])[1 + h3 % 3], h2 % 4) END,
       CASE WHEN status = 'completed' AND g % 100 <> 17 THEN
           format('The scene shows %s in the foreground and %s behind it. Colours: %s. '
                  'Composition: %s. Detected objects: %s. Estimated time of day: %s. '
                  'No text is visible. Image %s of the library.',
                  (ARRAY['a dog', 'two children', 'a bicycle', 'a plate of food', 'a street'])[1 + h3 % 5],
                  (ARRAY['trees', 'buildings', 'the sea', 'a wall', 'hills'])[1 + h2 % 5],
                  (ARRAY['blue and white', 'green and brown', 'red and orange', 'grey'])[1 + h2 % 4],
                  (ARRAY['rule of thirds', 'centred', 'wide angle', 'close-up'])[1 + h3 % 4],
                  (ARRAY['person, dog', 'car, tree', 'cup, table', 'bicycle'])[1 + (h2 + h3) % 4],
                  (ARRAY['morning', 'noon', 'evening', 'night'])[1 + h3 % 4], g) END,
       CASE WHEN status = 'completed' THEN
           json_build_array((ARRAY['outdoor', 'indoor', 'portrait', 'food'])[1 + h2 % 4],
                            (ARRAY['sunset', 'family', 'travel', 'pet', 'city'])[1 + h3 % 5]) END,
       CASE WHEN status = 'completed' THEN h2 % 4 ELSE 0 END,
       CASE WHEN kind = 'image' AND status = 'completed' THEN
           jsonb_build_object('Make', 'Apple', 'Model', 'iPhone 13', 'ISO', 50 + h2 % 800) END,
       CASE WHEN kind = 'image' THEN 'Apple' END,
       CASE WHEN kind = 'image' THEN 'iPhone 13' END,
       status,
       CASE status WHEN 'pending' THEN NULL
                   WHEN 'processing' THEN localtimestamp - make_interval(mins => (1 + h2 % 90)::int)
                   ELSE created + interval '30 seconds' END,
       CASE WHEN status = 'completed' THEN created + interval '75 seconds' END,
       CASE WHEN status = 'failed' THEN
           (ARRAY['AI service timeout after 300s', 'cannot decode image: truncated JPEG',
                  'Ollama: model llava:13b-v1.6 not found'])[1 + h2 % 3] END,
       CASE status WHEN 'completed' THEN 1 WHEN 'failed' THEN 3 WHEN 'processing' THEN 1 ELSE 0 END,
       created,
       CASE status WHEN 'completed' THEN created + interval '75 seconds'
                   WHEN 'failed' THEN created + interval '5 minutes'
                   WHEN 'processing' THEN localtimestamp - make_interval(mins => (1 + h2 % 90)::int)
                   ELSE created END,
       CASE WHEN h3 % 1000 < 15 THEN created + interval '10 days' END,
       CASE WHEN status = 'completed' AND g % 50 <> 3 THEN p.embedding END
FROM params p, generate_series(1, p.total_rows) AS g,
     LATERAL (SELECT CASE WHEN g % 26 = 25 THEN 'video' ELSE 'image' END AS kind,
                     (hashint8(g)::bigint + 2147483648) % 1000 AS h1,
                     (hashint8(-g)::bigint + 2147483648) % 1000 AS h2,
                     (hashint8(g * 31 + 7)::bigint + 2147483648) % 1000 AS h3,
                     localtimestamp(0) - (p.total_rows - g) * interval '90 seconds' AS created) AS r,
     LATERAL (SELECT CASE WHEN kind = 'video' THEN (CASE WHEN h1 < 950 THEN 'completed' ELSE 'pending' END)
                          WHEN h1 < 919 THEN 'completed'
                          WHEN h1 < 969 THEN 'pending'
                          WHEN h1 < 999 THEN 'failed'
                          ELSE 'processing' END AS status) AS s
ORDER BY g;

-- eye.media_state: eye's record of each image it analyzed, for 95 % of the completed images,
-- over three analyzer/model version pairs (an upgrade half done, and the builtin analyzer's
-- current version, what eye serve counts "outdated" against without EYE_AI_URL, for some), and
-- a failed record per failed image
INSERT INTO eye.media_state (media_id, analyzer, model_version, status, analyzed_at, updated_at)
SELECT id, CASE WHEN id % 20 < 17 THEN 'avinash' ELSE 'builtin' END,
       CASE WHEN id % 20 < 11 THEN 'llava:13b-v1.6' WHEN id % 20 < 17 THEN 'llava:7b-v1.5'
            ELSE 'builtin-2' END,
       'completed', processing_completed_at AT TIME ZONE 'UTC', processing_completed_at AT TIME ZONE 'UTC'
FROM media_files
WHERE processing_status = 'completed' AND media_type = 'image' AND id % 20 <> 9;
INSERT INTO eye.media_state (media_id, status, failed_at, consecutive_failures, last_error, updated_at)
SELECT id, 'failed', updated_at AT TIME ZONE 'UTC', 1 + id % 3, processing_error, updated_at AT TIME ZONE 'UTC'
FROM media_files
WHERE processing_status = 'failed' AND media_type = 'image';

-- eye.workers: two alive (their heartbeats age while the bench runs, as with a stopped
-- worker), five stopped
INSERT INTO eye.workers (id, host, pid, concurrency, started_at, heartbeat_at, stopped_at, status,
                         jobs_done, jobs_failed)
SELECT format('worker-%s', w), format('eye-worker-%s', w), 100 + w, 2,
       now() - make_interval(days => w), CASE WHEN w <= 2 THEN now() ELSE now() - make_interval(days => w - 2) END,
       CASE WHEN w > 2 THEN now() - make_interval(days => w - 2) END,
       CASE WHEN w <= 2 THEN 'running' ELSE 'stopped' END, 40000 - w * 3000, 90 - w * 7
FROM generate_series(1, 7) AS w;

-- eye.jobs: :jobs completed within the last 7 days, 2,000 queued for pending images, 4 running
INSERT INTO eye.jobs (kind, media_id, status, attempts, available_at, created_at, started_at,
                      heartbeat_at, finished_at, worker_id, reason, previous_status)
SELECT 'analyze', 1 + (hashint8(j)::bigint + 2147483648) % (SELECT total_rows FROM params),
       'completed', 1, finished - interval '2 minutes', finished - interval '2 minutes',
       finished - interval '40 seconds', finished - interval '5 seconds', finished,
       format('worker-%s', 1 + j % 7), (ARRAY['upload', 'reanalyze: oldest', 'reanalyze: failed'])[1 + j % 3],
       'pending'
FROM generate_series(1, :jobs) AS j,
     LATERAL (SELECT now() - (:jobs - j) * (interval '7 days' / :jobs) AS finished) AS f;
INSERT INTO eye.jobs (kind, media_id, status, available_at, created_at, reason, previous_status)
SELECT 'analyze', id, 'queued', now() - make_interval(secs => n * 0.5::float8), now() - make_interval(secs => n * 0.5::float8),
       'upload', 'pending'
FROM (SELECT id, row_number() OVER (ORDER BY id DESC) AS n FROM media_files
      WHERE processing_status = 'pending' AND media_type = 'image' AND deleted_at IS NULL
      ORDER BY id DESC LIMIT 2000) AS newest;
INSERT INTO eye.jobs (kind, media_id, status, attempts, available_at, created_at, started_at,
                      heartbeat_at, worker_id, reason, previous_status)
SELECT 'analyze', id, 'running', 1, now() - interval '1 minute', now() - interval '1 minute',
       now() - interval '20 seconds', now(), format('worker-%s', 1 + n % 2), 'upload', 'pending'
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM media_files
      WHERE processing_status = 'processing' AND media_type = 'image' AND deleted_at IS NULL
      ORDER BY id LIMIT 4) AS held;

-- eye.failed_jobs: :failed analyses that used up their attempts in the last 30 days
INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, reason, error, worker_id, created_at,
                             failed_at)
SELECT 5000000 + k, 'analyze', m.id, 3, 'upload',
       (ARRAY['AI service timeout after 300s', 'cannot decode image: truncated JPEG',
              'Ollama: model llava:13b-v1.6 not found',
              'the AI service answered 500: CUDA out of memory'])[1 + k % 4],
       format('worker-%s', 1 + k % 7), at - interval '20 minutes', at
FROM (SELECT id, row_number() OVER (ORDER BY id) AS k FROM media_files
      WHERE processing_status = 'failed' AND media_type = 'image' LIMIT :failed) AS m,
     LATERAL (SELECT now() - (k * (interval '30 days' / :failed)) AS at) AS t;

-- Laravel's queue beside media_files: a few jobs of other classes waiting, and failures of the
-- application's own jobs (the monitor's queue check counts both)
INSERT INTO jobs (queue, payload, attempts, reserved_at, available_at, created_at)
SELECT 'default',
       format('{"uuid":"%s","displayName":"App\\Jobs\\GenerateThumbnails","job":"Illuminate\\Queue\\CallQueuedHandler@call","data":{"commandName":"App\\Jobs\\GenerateThumbnails","command":"O:29:\\"App\\Jobs\\GenerateThumbnails\\":1:{s:7:\\"mediaId\\";i:%s;}"}}',
              md5('thumb ' || k)::uuid, k),
       0, NULL, extract(epoch from now())::int - 30 * k, extract(epoch from now())::int - 30 * k
FROM generate_series(1, 10) AS k;
INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
SELECT md5('failed ' || k)::uuid::text, 'database', 'default',
       '{"displayName":"App\\Jobs\\GenerateThumbnails"}',
       'Illuminate\Queue\MaxAttemptsExceededException: App\Jobs\GenerateThumbnails has been attempted too many times.',
       localtimestamp(0) - make_interval(hours => k * 7)
FROM generate_series(1, 40) AS k;
