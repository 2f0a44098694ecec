"""article-etl: news article pages -> typed Parquet -> DuckDB, orchestrated by Prefect."""

__version__ = "0.1.0"
