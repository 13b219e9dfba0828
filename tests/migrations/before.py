"""The DDL that created the tables before migrations (main at 5cf72c9), frozen: a database
made by it must upgrade to the head revision in place."""

KEYS = """
CREATE SCHEMA IF NOT EXISTS sexto_keys;
CREATE TABLE IF NOT EXISTS sexto_keys.subject_keys (
    subject     text PRIMARY KEY,
    wrapped_key bytea NOT NULL,
    kek_id      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sexto_keys.shredded_subjects (
    subject     text PRIMARY KEY,
    shredded_at timestamptz NOT NULL DEFAULT now()
);
"""

RUNTIME = """
CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.projection_checkpoints (
    consumer  text   NOT NULL,
    case_key  text   NOT NULL,
    last_seq  bigint NOT NULL,
    last_hash text   NOT NULL,
    PRIMARY KEY (consumer, case_key)
);
CREATE TABLE IF NOT EXISTS {schema}.projection_positions (
    consumer text PRIMARY KEY,
    last_seq bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS {schema}.consumer_failures (
    consumer   text   NOT NULL,
    stream_seq bigint NOT NULL,
    failures   integer NOT NULL,
    PRIMARY KEY (consumer, stream_seq)
);
CREATE TABLE IF NOT EXISTS {schema}.dead_letters (
    id          bigserial PRIMARY KEY,
    consumer    text NOT NULL,
    stream_seq  bigint NOT NULL,
    subject     text NOT NULL,
    event_id    text,
    event_type  text,
    error_type  text NOT NULL,
    error       text NOT NULL,
    deliveries  integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (consumer, stream_seq)
);
"""

NOTIFICATION = """
CREATE TABLE IF NOT EXISTS notification.subscriptions (
    id              text PRIMARY KEY,
    url             text NOT NULL,
    types           text[] NOT NULL,
    territory       text,
    school_id       text,
    secret          bytea NOT NULL,
    previous_secret bytea,
    previous_until  timestamptz,
    owner_subject   text NOT NULL,
    owner_role      text NOT NULL,
    from_seq        bigint NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    idempotency_key text
);
CREATE UNIQUE INDEX IF NOT EXISTS subscriptions_idempotency
    ON notification.subscriptions (owner_subject, idempotency_key);

CREATE TABLE IF NOT EXISTS notification.cases (
    case_id text PRIMARY KEY, territory text NOT NULL, school_id text NOT NULL,
    protocol text NOT NULL, protocol_version text, escalated boolean NOT NULL DEFAULT false);
CREATE TABLE IF NOT EXISTS notification.recipients (
    case_id text NOT NULL, recipient_ref text NOT NULL, kind text NOT NULL,
    student_ref text, language text, event_id text NOT NULL,
    PRIMARY KEY (case_id, recipient_ref));
CREATE TABLE IF NOT EXISTS notification.deliveries (
    id              text PRIMARY KEY,
    case_id         text NOT NULL,
    territory       text NOT NULL,
    seq             bigint NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    event_time      timestamptz NOT NULL,
    correlation_id  text NOT NULL,
    traceparent     text,
    channel         text NOT NULL,
    target          text NOT NULL,
    recipient_kind  text NOT NULL,
    template        text NOT NULL,
    body            text,
    status          text NOT NULL DEFAULT 'pending',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    lease_token     text,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX IF NOT EXISTS deliveries_heads ON notification.deliveries
    (channel, target, case_id, seq) WHERE status <> 'sent' AND status <> 'cancelled';
CREATE INDEX IF NOT EXISTS deliveries_status ON notification.deliveries (status, created_at);
CREATE TABLE IF NOT EXISTS notification.outcomes (
    event_id text PRIMARY KEY, case_id text NOT NULL, at timestamptz NOT NULL,
    delivery_id text NOT NULL, channel text NOT NULL, recipient_ref text NOT NULL,
    recipient_kind text NOT NULL, template_version text NOT NULL, about_event_id text NOT NULL,
    about_type text NOT NULL, attempt integer NOT NULL, outcome text NOT NULL,
    final boolean NOT NULL, detail text NOT NULL);
CREATE INDEX IF NOT EXISTS outcomes_case ON notification.outcomes (case_id, at);
"""

# The read models, as their projections created them.

INTAKE = """
CREATE TABLE IF NOT EXISTS intake.cases (
    case_id       text PRIMARY KEY,
    territory     text NOT NULL,
    school_id     text NOT NULL,
    protocol      text NOT NULL,
    status        text NOT NULL,
    discovered_at timestamptz NOT NULL,
    reported_at   timestamptz NOT NULL,
    reported_by   text NOT NULL,
    students      jsonb NOT NULL,
    escalated     boolean NOT NULL DEFAULT false,
    version       bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_school ON intake.cases (school_id, reported_at DESC, case_id);

CREATE TABLE IF NOT EXISTS intake.dir_territories (
    territory_id text PRIMARY KEY, name text NOT NULL);
CREATE TABLE IF NOT EXISTS intake.dir_agreements (
    agreement_id text PRIMARY KEY, territory_id text NOT NULL, signed_on date NOT NULL,
    in_force_from date NOT NULL, in_force_to date);
CREATE TABLE IF NOT EXISTS intake.dir_schools (
    school_id text PRIMARY KEY, name text NOT NULL, territory_id text NOT NULL,
    language text NOT NULL);
CREATE TABLE IF NOT EXISTS intake.dir_interveners (
    intervener_id text PRIMARY KEY, school_id text NOT NULL, level text NOT NULL,
    certified_on date NOT NULL);
"""

EVALUATION = """
CREATE TABLE IF NOT EXISTS evaluation.cases (
    case_id          text PRIMARY KEY,
    territory        text NOT NULL,
    school_id        text NOT NULL,
    protocol_version text NOT NULL,
    grids            jsonb NOT NULL DEFAULT '{}'::jsonb,
    recommendation   text,
    urgency          text,
    version          bigint NOT NULL
);
"""

ESCALATION = """
CREATE TABLE IF NOT EXISTS escalation.escalations (
    case_id      text PRIMARY KEY,
    territory    text NOT NULL,
    school_id    text NOT NULL,
    urgency      text NOT NULL,
    status       text NOT NULL,
    requested_at timestamptz NOT NULL,
    flagged      boolean NOT NULL DEFAULT false,
    request_event_id text NOT NULL,
    overdue      text[] NOT NULL DEFAULT '{}',
    version      bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS escalation.case_scope (
    case_id text PRIMARY KEY, territory text NOT NULL, school_id text NOT NULL
);
CREATE TABLE IF NOT EXISTS escalation.custody (
    case_id     text NOT NULL,
    seal_number text NOT NULL,
    secured_by  text,
    secured_at  timestamptz,
    handed_to   text,
    handed_at   timestamptz,
    seal_state  text NOT NULL,
    PRIMARY KEY (case_id, seal_number)
);
"""

NOTIFICATION_SCHOOLS = """
CREATE TABLE IF NOT EXISTS notification.schools (
    school_id text PRIMARY KEY, name text NOT NULL, territory text NOT NULL,
    language text NOT NULL);
"""
