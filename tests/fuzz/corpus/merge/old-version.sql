UPDATE meta SET value='1' WHERE key='schema_version';
