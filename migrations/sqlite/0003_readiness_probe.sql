-- /readyz proves the database still takes writes by inserting a row here and rolling it back:
-- a row that needs new pages, as a case does, so that a full disk shows.
CREATE TABLE readiness_probe (filler BLOB NOT NULL);
