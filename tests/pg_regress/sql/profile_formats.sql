-- Profiles as DBAs write them for the system pg_warden replaces: a string version,
-- `config` for a strategy's options, `seed_env_var` (a WARDEN_* variable of the server:
-- the test cluster sets WARDEN_TEST_SEED=424242), tables as {"rules": [...]}. The same
-- profile written the classic way masks to the same values.
BEGIN;
SELECT warden.create_key('default', '\x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
SELECT warden.create_key('audit', '\x101112131415161718191a1b1c1d1e1f101112131415161718191a1b1c1d1e1f');
SET LOCAL client_min_messages = warning;
CREATE SCHEMA fmt;
CREATE TABLE fmt.people (id int PRIMARY KEY, email text UNIQUE, phone text, note text);
INSERT INTO fmt.people SELECT g, 'p' || g || '@corp.example', '+1 555 ' || lpad(g::text, 4, '0'), 'n' || g
  FROM generate_series(1, 50) g;
CREATE TABLE fmt.people_copy AS SELECT * FROM fmt.people;

-- The replaced system's format: validates clean.
SELECT * FROM warden.validate_profile($${
  "name": "staging", "version": "1.0",
  "strategies": {"mail": {"type": "email", "config": {"seed_env_var": "WARDEN_TEST_SEED"}},
                 "digits": {"type": "partial", "config": {"suffix": 4}}},
  "tables": {"fmt.people": {"rules": [{"column": "email", "strategy": "mail"},
                                      {"column": "phone", "strategy": "digits"}]}}
}$$);
-- The classic format with the seed written out.
SELECT * FROM warden.validate_profile($${
  "name": "staging", "version": 1,
  "strategies": {"mail": {"type": "email"}, "digits": {"type": "partial", "options": {"suffix": 4}}},
  "tables": {"fmt.people_copy": [{"column": "email", "strategy": "mail", "seed": 424242},
                                 {"column": "phone", "strategy": "digits"}]}
}$$);
SELECT table_name, column_name, strategy, rows FROM warden.apply_profile($${
  "name": "staging", "version": "1.0",
  "strategies": {"mail": {"type": "email", "config": {"seed_env_var": "WARDEN_TEST_SEED"}},
                 "digits": {"type": "partial", "config": {"suffix": 4}}},
  "tables": {"fmt.people": {"rules": [{"column": "email", "strategy": "mail"},
                                      {"column": "phone", "strategy": "digits"}]}}
}$$) ORDER BY 1, 2;
SELECT table_name, column_name, strategy, rows FROM warden.apply_profile($${
  "name": "staging", "version": 1,
  "strategies": {"mail": {"type": "email"}, "digits": {"type": "partial", "options": {"suffix": 4}}},
  "tables": {"fmt.people_copy": [{"column": "email", "strategy": "mail", "seed": 424242},
                                 {"column": "phone", "strategy": "digits"}]}
}$$) ORDER BY 1, 2;
-- Same seed, same pseudonyms: every row alike, and masked.
SELECT count(*) AS rows, count(*) FILTER (WHERE p.email = c.email AND p.phone = c.phone) AS alike,
       count(*) FILTER (WHERE p.email LIKE 'p%@corp.example') AS unmasked
  FROM fmt.people p JOIN fmt.people_copy c USING (id);
-- Problems, each at its path: a missing variable, a name outside WARDEN_, a variable
-- that holds no integer (its value never shown), a master-key variable, options and
-- config together, versions that are not one.
SELECT * FROM warden.validate_profile($${
  "name": "bad", "version": "1.5",
  "strategies": {"a": {"type": "email", "config": {"seed_env_var": "WARDEN_NOT_SET"}},
                 "b": {"type": "email", "config": {"seed_env_var": "HOME"}},
                 "c": {"type": "email", "config": {"seed_env_var": "WARDEN_DEMO_KEY"}},
                 "d": {"type": "email", "config": {"seed_env_var": "WARDEN_MASTER_KEY"}},
                 "e": {"type": "partial", "options": {"suffix": 2}, "config": {"suffix": 4}}},
  "tables": {"fmt.people": {"rules": [{"column": "email", "strategy": "a"}], "extra": 1}}
}$$) ORDER BY path, problem;
SELECT count(*) AS problems FROM warden.validate_profile($${"name": "v", "version": "v1", "tables": {}}$$);
-- A variable a keyring key is bound to holds key material: never read as a seed.
SELECT warden.create_key_from_env('envbound', 'WARDEN_DEMO_KEY');
SELECT * FROM warden.validate_profile($${
  "name": "bound", "version": "1",
  "strategies": {"a": {"type": "email", "config": {"seed_env_var": "WARDEN_DEMO_KEY"}}},
  "tables": {"fmt.people": {"rules": [{"column": "email", "strategy": "a"}]}}
}$$);
-- A role that is not a key officer cannot probe the server's environment: every variable
-- reads as unset for it.
CREATE ROLE fmt_user;
GRANT USAGE ON SCHEMA fmt TO fmt_user;
GRANT SELECT ON fmt.people TO fmt_user;
SET LOCAL ROLE fmt_user;
SELECT * FROM warden.validate_profile($${
  "name": "probe", "version": "1",
  "strategies": {"a": {"type": "email", "config": {"seed_env_var": "WARDEN_TEST_SEED"}}},
  "tables": {"fmt.people": {"rules": [{"column": "email", "strategy": "a"}]}}
}$$);
RESET ROLE;
ROLLBACK;
