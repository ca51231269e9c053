//! Scan rules and system classification for ETL log files (see issue 3).
