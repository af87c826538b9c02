-- A counter bumped by every change to a memory. Each process keeps an in-memory vector index
-- of the memories it searches; comparing this counter with the one its index reflects tells
-- it whether another connection or process has changed memories since, in one tiny read.

CREATE TABLE memory_epoch (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);

INSERT INTO memory_epoch (id, n) VALUES (1, 0);

CREATE TRIGGER memory_epoch_insert AFTER INSERT ON memories BEGIN
    UPDATE memory_epoch SET n = n + 1;
END;

CREATE TRIGGER memory_epoch_delete AFTER DELETE ON memories BEGIN
    UPDATE memory_epoch SET n = n + 1;
END;

CREATE TRIGGER memory_epoch_update AFTER UPDATE ON memories BEGIN
    UPDATE memory_epoch SET n = n + 1;
END;
