//! Payment messages: validated typed views of the decoded protobuf, the payee's signatures, and
//! builders that produce exactly what a receiver accepts.
//!
//! Every view is built by one `from_wire`/`verify` function that checks each field against
//! [`crate::limits`]; a builder encodes its draft and runs it back through the same function, so
//! this crate never emits a message it would refuse.
//!
//! One file per concern: `ids` (ids, roles, kinds), `fields` (shared field checks),
//! `method` (payment methods and settlements), `invoice`, `request`, `signature` (the
//! payee-signature check), `notice`, `receipt`, `refusal` (decline, cancel, protocol
//! error) and `content` (the envelope: open and seal).

mod content;
mod fields;
mod ids;
mod invoice;
mod method;
mod notice;
mod receipt;
mod refusal;
mod request;
mod signature;

#[cfg(feature = "internal")]
pub(crate) use content::content_for;
pub use content::{
    Incoming, PaymentMessage, Received, content_for_error, open, open_content, seal,
};
pub use ids::{Id, MessageKind, Role, new_id};
pub use invoice::{Adjustment, AdjustmentDraft, Invoice, InvoiceDraft, LineDraft, LineItem};
pub use method::{PaymentMethod, Settlement};
pub use notice::{Notice, NoticeKind};
#[cfg(feature = "internal")]
pub(crate) use receipt::sign_receipt_wire;
pub use receipt::{Receipt, ReceiptOutcome, SignedReceipt};
pub use refusal::{Cancel, CancelReason, Decline, DeclineReason, ProtocolErrorReply};
#[cfg(feature = "internal")]
pub(crate) use request::sign_request_wire;
pub use request::{PaymentRequest, RequestDraft, RequestKind, SignedRequest};
pub use signature::PayeeSignatureValid;
