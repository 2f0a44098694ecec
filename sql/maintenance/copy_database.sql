-- Tables (with their keys), rows and views, as they are.
COPY FROM DATABASE source_db TO converted_db;
