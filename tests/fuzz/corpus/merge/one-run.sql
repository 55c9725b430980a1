INSERT INTO machine VALUES(1,'fp-a','host','AMD EPYC','x86_64','Linux',1,2,2,1,4000000000,32768,524288,33554432,'{"cores":2}',1765000000);
INSERT INTO run VALUES(1,1,'smoke','suites/smoke.json','{"name":"smoke"}','decobench run','abc','def','gcc','-O2','6.0',2,1765000100,1765000200,'completed');
INSERT INTO run_counter VALUES(1,'PAPI_TOT_INS',1,0,NULL);
INSERT INTO "case" VALUES(1,1,0,'ar','ar-greedy','{"mode":"greedy"}','target','m.gguf','00ff','desc',1000,2000,NULL,NULL,NULL,'smoke',2,'completed',1765000110,1765000150);
INSERT INTO sample VALUES(1,1,0,'p0','prose',0,0,1234,5,8,1.5,10.0,800.0,1.2,8,0,8,8,1.0,0,0,NULL,'[1.0]',0.0,9.0,0.5,10240,'length','[1,2,3,4,5,6,7,8]','hello world');
INSERT INTO sample VALUES(2,1,1,'p1','prose',0,0,1234,5,8,1.5,10.0,800.0,1.2,8,0,8,8,1.0,0,0,NULL,NULL,0.0,9.0,0.5,10240,'eog','[9]','x');
INSERT INTO sample_counter VALUES(1,'PAPI_TOT_INS',123456);
INSERT INTO sample_metric VALUES(1,'distinct_2',0.5);
INSERT INTO step_event VALUES(1,0,1,0,0,4,3,7,100,200);
