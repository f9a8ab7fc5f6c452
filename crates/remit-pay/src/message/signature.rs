//! The payee-signature check and its proof value.

use remit_session::VerifiedIdentity;
use remit_wire::v1;

use super::fields::too_long;
use crate::error::PayError;
use crate::identity::{self, DocumentDigest};

/// Proof that a payee signature was verified: only this module can make one, and every signed
/// view holds one (CONTRIBUTING.md, "State transitions").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayeeSignatureValid(());

pub(super) fn check_signature(
    peer: &VerifiedIdentity,
    context: &[u8],
    doc: &v1::SignedDocument,
) -> Result<(DocumentDigest, [u8; 64], PayeeSignatureValid), PayError> {
    too_long("body", doc.body.len(), remit_wire::limits::MAX_DOCUMENT_LEN)?;
    let signature =
        <[u8; 64]>::try_from(doc.signature.as_slice()).map_err(|_| PayError::BadSignature)?;
    let digest = DocumentDigest::of(&doc.body);
    if identity::verify(peer, context, &digest, &signature) {
        Ok((digest, signature, PayeeSignatureValid(())))
    } else {
        Err(PayError::BadSignature)
    }
}
