SELECT url, etag, last_modified, content_hash FROM http_validators;
