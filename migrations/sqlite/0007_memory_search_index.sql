-- Full-text search checks each match's owner; this covering index answers that without
-- reading the memory's row, which holds its vector and so fills a page of its own.
CREATE INDEX memories_search ON memories (seq, user_id, project, updated_at);
