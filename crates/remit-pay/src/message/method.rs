//! Payment methods (where to pay, bound by the request signature) and settlements (where to
//! find a transfer on its rail).

use remit_wire::v1;
use sha2::{Digest as _, Sha256};

use super::fields::{bytes32, chain, required_text, token};
use crate::error::PayError;
use crate::limits::{
    MAX_ACCOUNT_LEN, MAX_ADDRESS_LEN, MAX_END_TO_END_ID_LEN, MAX_HOLDER_LEN, MAX_LIGHTNING_LEN,
    MAX_PROVIDER_ACCOUNT_LEN, MAX_PROVIDER_LEN, MAX_RAIL_REF_LEN, MAX_ROUTING_LEN,
};

/// A rail-specific destination, bound to the payee by the request signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaymentMethod {
    /// An on-chain address.
    OnChain {
        /// CAIP-2 chain id.
        chain: String,
        /// Address text.
        address: String,
    },
    /// A BOLT 11 invoice or BOLT 12 offer.
    Lightning(String),
    /// A bank account.
    Bank {
        /// Holder name (stripped free text).
        holder: String,
        /// IBAN or account number.
        account: String,
        /// BIC or routing code, may be empty.
        routing: String,
    },
    /// An account at a payment provider.
    Provider {
        /// Provider name.
        provider: String,
        /// Account handle.
        account: String,
    },
}

impl PaymentMethod {
    pub(super) fn from_wire(m: &v1::PaymentMethod) -> Result<Self, PayError> {
        use v1::payment_method::Destination as D;
        match &m.destination {
            Some(D::OnChain(o)) => Ok(Self::OnChain {
                chain: chain("methods.on_chain.chain", &o.chain)?,
                address: token("methods.on_chain.address", &o.address, 1, MAX_ADDRESS_LEN)?,
            }),
            Some(D::Lightning(l)) => {
                let l = token("methods.lightning", l, 3, MAX_LIGHTNING_LEN)?;
                if !l.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("ln")) {
                    return Err(PayError::invalid(
                        "methods.lightning",
                        "not a BOLT 11 invoice or BOLT 12 offer",
                    ));
                }
                Ok(Self::Lightning(l))
            }
            Some(D::Bank(b)) => Ok(Self::Bank {
                holder: required_text("methods.bank.holder", &b.holder, MAX_HOLDER_LEN)?,
                account: token("methods.bank.account", &b.account, 1, MAX_ACCOUNT_LEN)?,
                routing: token("methods.bank.routing", &b.routing, 0, MAX_ROUTING_LEN)?,
            }),
            Some(D::Provider(p)) => Ok(Self::Provider {
                provider: token(
                    "methods.provider.provider",
                    &p.provider,
                    1,
                    MAX_PROVIDER_LEN,
                )?,
                account: token(
                    "methods.provider.account",
                    &p.account,
                    1,
                    MAX_PROVIDER_ACCOUNT_LEN,
                )?,
            }),
            None => Err(PayError::invalid("methods.destination", "required")),
        }
    }

    pub(super) fn to_wire(&self) -> v1::PaymentMethod {
        use v1::payment_method::Destination as D;
        let destination = match self {
            Self::OnChain { chain, address } => D::OnChain(v1::OnChainAddress {
                chain: chain.clone(),
                address: address.clone(),
            }),
            Self::Lightning(l) => D::Lightning(l.clone()),
            Self::Bank {
                holder,
                account,
                routing,
            } => D::Bank(v1::BankAccount {
                holder: holder.clone(),
                account: account.clone(),
                routing: routing.clone(),
            }),
            Self::Provider { provider, account } => D::Provider(v1::ProviderAccount {
                provider: provider.clone(),
                account: account.clone(),
            }),
        };
        v1::PaymentMethod {
            destination: Some(destination),
        }
    }

    /// Whether `settlement` is on this method's rail (same chain, same provider).
    #[must_use]
    pub fn matches(&self, settlement: &Settlement) -> bool {
        match (self, settlement) {
            (Self::OnChain { chain, .. }, Settlement::OnChain { chain: c, .. }) => chain == c,
            (Self::Lightning(_), Settlement::Lightning { .. })
            | (Self::Bank { .. }, Settlement::Bank { .. }) => true,
            (Self::Provider { provider, .. }, Settlement::Provider { provider: p, .. }) => {
                provider == p
            }
            _ => false,
        }
    }
}

/// Where to find a transfer on its rail.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Settlement {
    /// An on-chain transaction.
    OnChain {
        /// CAIP-2 chain id.
        chain: String,
        /// Transaction id.
        txid: String,
    },
    /// A Lightning payment.
    Lightning {
        /// Payment hash.
        payment_hash: [u8; 32],
        /// Preimage, if revealed; SHA-256(preimage) = payment hash is checked.
        preimage: Option<[u8; 32]>,
    },
    /// A bank transfer.
    Bank {
        /// End-to-end id.
        end_to_end_id: String,
    },
    /// A provider transfer.
    Provider {
        /// Provider name.
        provider: String,
        /// Transfer id.
        transfer_id: String,
    },
}

impl Settlement {
    pub(super) fn from_wire(s: Option<&v1::Settlement>) -> Result<Self, PayError> {
        use v1::settlement::Rail;
        match s.and_then(|s| s.rail.as_ref()) {
            Some(Rail::OnChain(o)) => Ok(Self::OnChain {
                chain: chain("settlement.on_chain.chain", &o.chain)?,
                txid: token("settlement.on_chain.txid", &o.txid, 1, MAX_RAIL_REF_LEN)?,
            }),
            Some(Rail::Lightning(l)) => {
                let payment_hash = bytes32("settlement.lightning.payment_hash", &l.payment_hash)?;
                let preimage = if l.preimage.is_empty() {
                    None
                } else {
                    let p = bytes32("settlement.lightning.preimage", &l.preimage)?;
                    if <[u8; 32]>::from(Sha256::digest(p)) != payment_hash {
                        return Err(PayError::invalid(
                            "settlement.lightning.preimage",
                            "does not hash to the payment hash",
                        ));
                    }
                    Some(p)
                };
                Ok(Self::Lightning {
                    payment_hash,
                    preimage,
                })
            }
            Some(Rail::Bank(b)) => Ok(Self::Bank {
                end_to_end_id: token(
                    "settlement.bank.end_to_end_id",
                    &b.end_to_end_id,
                    1,
                    MAX_END_TO_END_ID_LEN,
                )?,
            }),
            Some(Rail::Provider(p)) => Ok(Self::Provider {
                provider: token(
                    "settlement.provider.provider",
                    &p.provider,
                    1,
                    MAX_PROVIDER_LEN,
                )?,
                transfer_id: token(
                    "settlement.provider.transfer_id",
                    &p.transfer_id,
                    1,
                    MAX_RAIL_REF_LEN,
                )?,
            }),
            None => Err(PayError::invalid("settlement", "required")),
        }
    }

    pub(super) fn to_wire(&self) -> v1::Settlement {
        use v1::settlement::Rail;
        let rail = match self {
            Self::OnChain { chain, txid } => Rail::OnChain(v1::OnChainTransaction {
                chain: chain.clone(),
                txid: txid.clone(),
            }),
            Self::Lightning {
                payment_hash,
                preimage,
            } => Rail::Lightning(v1::LightningPayment {
                payment_hash: payment_hash.to_vec(),
                preimage: preimage.map(|p| p.to_vec()).unwrap_or_default(),
            }),
            Self::Bank { end_to_end_id } => Rail::Bank(v1::BankTransfer {
                end_to_end_id: end_to_end_id.clone(),
            }),
            Self::Provider {
                provider,
                transfer_id,
            } => Rail::Provider(v1::ProviderTransfer {
                provider: provider.clone(),
                transfer_id: transfer_id.clone(),
            }),
        };
        v1::Settlement { rail: Some(rail) }
    }
}
