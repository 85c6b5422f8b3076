"""Identity: users (never deleted, ids never reused), roles, sign-in sessions, API tokens,
password hashing (argon2id) and lockout after repeated failures."""
