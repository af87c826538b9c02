-- GIN's fast update queues new entries in an unsorted pending list that every search scans
-- until a vacuum merges it; at up to 4 MB that made full-text search ten times slower after
-- a busy hour or an import. Memories arrive a few at a time, so inserting straight into the
-- index costs little, and search stays as fast as the index.
ALTER INDEX memories_text_search SET (fastupdate = off);
SELECT gin_clean_pending_list('memories_text_search'::regclass);
