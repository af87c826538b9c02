-- Records brought in from another system by `clara import` (a MyPalClara installation), with
-- the clara id each became: an import run twice adds nothing twice.

CREATE TABLE import_marks (
    source    TEXT NOT NULL,
    kind      TEXT NOT NULL,
    source_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    PRIMARY KEY (source, kind, source_id)
);
