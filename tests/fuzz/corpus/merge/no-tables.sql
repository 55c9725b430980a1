DROP TABLE step_event; DROP TABLE sample_metric;
INSERT INTO machine VALUES(1,'fp',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,0);
INSERT INTO run(id,machine_id,started_at,status) VALUES(1,1,0,'completed');
