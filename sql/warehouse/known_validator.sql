-- The HTTP validators of one URL a run is about to fetch (a point lookup on the primary key).
SELECT url, etag, last_modified, content_hash FROM http_validators WHERE url = $url;
