//! How events and threads are shown: one human line each, or a JSON value.

use remit_client::{Engine, Event, SqliteStore, transport::ClientEvent};
use remit_pay::{Id, MessageKind, PaymentThread, Role, ThreadState};
use serde_json::{Value, json};

use crate::profile::Profile;

pub(crate) fn short_id(id: &Id) -> String {
    hex::encode(&id[..4])
}

pub(crate) fn state_name(state: ThreadState) -> String {
    match state {
        ThreadState::Issued => "issued".into(),
        ThreadState::PaymentPending => "payment-pending".into(),
        ThreadState::PartiallyPaid => "partially-paid".into(),
        ThreadState::Paid => "paid".into(),
        ThreadState::Declined => "declined".into(),
        ThreadState::Cancelled => "cancelled".into(),
        ThreadState::Expired => "expired".into(),
        ThreadState::Exception(r) => format!("exception ({r:?})").to_lowercase(),
        ThreadState::PartiallyRefunded => "partially-refunded".into(),
        ThreadState::Refunded => "refunded".into(),
        _ => "unknown".into(),
    }
}

fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Request => "payment request",
        MessageKind::Payment => "payment notice",
        MessageKind::Refund => "refund notice",
        MessageKind::Receipt => "receipt",
        MessageKind::Decline => "decline",
        MessageKind::Cancel => "cancel",
        _ => "message",
    }
}

/// One line about a thread: id, role, peer, amount, memo, state.
pub(crate) fn thread_line(
    profile: &Profile,
    engine: &Engine<SqliteStore>,
    id: &Id,
) -> (String, Value) {
    let Some(thread) = engine.thread(id) else {
        return (format!("request {}: unknown", short_id(id)), Value::Null);
    };
    let peer = engine.thread_peer(id).unwrap_or_default();
    let r = thread.request().request();
    let (role, with) = match thread.local_role() {
        Role::Payee => ("you asked", "from"),
        Role::Payer => ("asks you", "to"),
    };
    let kind = if r.invoice.is_some() {
        "invoice"
    } else {
        "request"
    };
    let human = if thread.local_role() == Role::Payer {
        format!(
            "{kind} {}  {} {role} for {}{}  [{}]",
            short_id(id),
            profile.peer_name(&peer),
            r.amount,
            memo(&r.memo),
            state_name(thread.state())
        )
    } else {
        format!(
            "{kind} {}  {role} {} {with} {}{}  [{}]",
            short_id(id),
            r.amount,
            profile.peer_name(&peer),
            memo(&r.memo),
            state_name(thread.state())
        )
    };
    (human, thread_json(profile, id, peer, thread))
}

fn memo(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(" \"{m}\"")
    }
}

pub(crate) fn thread_json(profile: &Profile, id: &Id, peer: [u8; 32], t: &PaymentThread) -> Value {
    let r = t.request().request();
    json!({
        "request_id": hex::encode(id),
        "kind": if r.invoice.is_some() { "invoice" } else { "request" },
        "role": match t.local_role() { Role::Payee => "payee", Role::Payer => "payer" },
        "peer": profile.handle_of(&peer),
        "peer_address": hex::encode(peer),
        "amount": r.amount.to_string(),
        "memo": r.memo,
        "expires_at": r.expires_at,
        "state": state_name(t.state()),
    })
}

/// One line about a transport event (`None` for the ones not worth showing).
pub(crate) fn event_line(
    profile: &Profile,
    engine: &Engine<SqliteStore>,
    event: &ClientEvent,
) -> Option<(String, Value)> {
    match event {
        ClientEvent::Engine(e) => Some(engine_event(profile, engine, e)),
        ClientEvent::Dropped { sender, error } => Some((
            format!(
                "dropped an envelope from {}: {error}",
                profile.peer_name(sender)
            ),
            json!({"event": "dropped", "from": hex::encode(sender), "error": error.to_string()}),
        )),
        ClientEvent::Warning(w) => Some((
            format!("warning: {w}"),
            json!({"event": "warning", "detail": w.to_string()}),
        )),
        _ => None,
    }
}

fn from_name(profile: &Profile, from: &remit_client::Sender) -> String {
    let name = from
        .handle
        .clone()
        .unwrap_or_else(|| profile.peer_name(&from.address));
    if from.verified {
        format!("{name} (verified)")
    } else {
        name
    }
}

pub(crate) fn engine_event(
    profile: &Profile,
    engine: &Engine<SqliteStore>,
    event: &Event,
) -> (String, Value) {
    match event {
        Event::Payment {
            from,
            kind,
            request_id,
            state,
            ..
        } => {
            let detail = engine.thread(request_id).map_or_else(String::new, |t| {
                let r = t.request().request();
                match kind {
                    MessageKind::Request => format!(" for {}{}", r.amount, memo(&r.memo)),
                    MessageKind::Payment => t
                        .payments()
                        .last()
                        .map(|p| format!(" of {}", p.notice.amount))
                        .unwrap_or_default(),
                    _ => String::new(),
                }
            });
            (
                format!(
                    "{} sent a {}{detail}  (request {}, now {})",
                    from_name(profile, from),
                    kind_name(*kind),
                    short_id(request_id),
                    state_name(*state)
                ),
                json!({
                    "event": "payment",
                    "kind": kind_name(*kind),
                    "from": from.handle.clone().or_else(|| profile.handle_of(&from.address).map(str::to_owned)),
                    "from_address": hex::encode(from.address),
                    "verified": from.verified,
                    "safety_number": from.safety_number.to_string(),
                    "request_id": hex::encode(request_id),
                    "state": state_name(*state),
                }),
            )
        }
        Event::StateChanged {
            request_id,
            from,
            to,
            ..
        } => (
            format!(
                "request {}: {} -> {}",
                short_id(request_id),
                state_name(*from),
                state_name(*to)
            ),
            json!({"event": "state", "request_id": hex::encode(request_id),
                   "from": state_name(*from), "to": state_name(*to)}),
        ),
        Event::Text { from, text, .. } => (
            format!("{}: {text}", from_name(profile, from)),
            json!({"event": "text", "from": hex::encode(from.address), "text": text}),
        ),
        Event::IdentityChanged {
            handle,
            safety_number,
            ..
        } => (
            format!(
                "WARNING: {handle}'s identity changed; payments with {handle} are frozen until you check the new safety number {safety_number} and run `remit verify {handle}`"
            ),
            json!({"event": "identity-changed", "handle": handle,
                   "safety_number": safety_number.to_string()}),
        ),
        Event::PaymentHeld {
            from,
            kind,
            request_id,
            ..
        } => (
            format!(
                "held a {} from {} (identity change not confirmed; request {})",
                kind_name(*kind),
                from_name(profile, from),
                short_id(request_id)
            ),
            json!({"event": "held", "kind": kind_name(*kind), "request_id": hex::encode(request_id)}),
        ),
        Event::PeerError { from, reply, .. } => (
            format!(
                "{} refused one of our messages: {:?}",
                from_name(profile, from),
                reply
            ),
            json!({"event": "peer-error", "from": hex::encode(from.address), "detail": format!("{reply:?}")}),
        ),
        Event::Refused { from, error, .. } => (
            format!(
                "refused a message from {}: {error}",
                from_name(profile, from)
            ),
            json!({"event": "refused", "from": hex::encode(from.address), "error": error.to_string()}),
        ),
        other => (
            format!("{other:?}"),
            json!({"event": "other", "detail": format!("{other:?}")}),
        ),
    }
}
