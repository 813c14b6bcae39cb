-- Temporal keeps its own databases on the same PostgreSQL server as the application.
CREATE DATABASE temporal;
CREATE DATABASE temporal_visibility;
