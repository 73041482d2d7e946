//! Classic BPF programs (`SO_ATTACH_FILTER`, see `Documentation/networking/filter.rst`) that
//! keep uninteresting frames out of user space.
//!
//! Every program first drops frames the host itself sent (`pkttype == PACKET_OUTGOING`, read
//! through the `SKF_AD_PKTTYPE` ancillary load), so our own gratuitous frames are not read back.
//! Offsets assume untagged Ethernet II frames (the kernel strips VLAN tags on VLAN devices) and
//! IPv6 without extension headers, which is how Neighbor Discovery is sent in practice.

/// One classic BPF instruction, `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset if true.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// Constant.
    pub k: u32,
}

const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;
/// `SKF_AD_OFF + SKF_AD_PKTTYPE` (`-0x1000 + 4`).
const AD_PKTTYPE: u32 = 0xffff_f004;
const PACKET_OUTGOING: u32 = 4;
const ACCEPT: u32 = 0xffff;

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

/// Builds "not outgoing, and every `(size, offset, value)` check holds". Sizes are 1 or 2 bytes.
fn all_equal(checks: &[(u8, u32, u32)]) -> Vec<Insn> {
    // Layout: [ld pkttype, jeq outgoing] + 2 per check + [ret accept, ret drop].
    let n = checks.len();
    let mut p = vec![insn(LD_W_ABS, 0, 0, AD_PKTTYPE)];
    // From instruction i, the drop instruction (index 2 + 2n + 1) is at offset drop - i - 1.
    let drop_at = 2 + 2 * n + 1;
    p.push(insn(JEQ_K, (drop_at - 2) as u8, 0, PACKET_OUTGOING));
    for (size, off, val) in checks {
        p.push(insn(
            if *size == 1 { LD_B_ABS } else { LD_H_ABS },
            0,
            0,
            *off,
        ));
        let here = p.len();
        p.push(insn(JEQ_K, 0, (drop_at - here - 1) as u8, *val));
    }
    p.push(insn(RET_K, 0, 0, ACCEPT));
    p.push(insn(RET_K, 0, 0, 0));
    p
}

/// ARP requests only (EtherType 0x0806, `ar$op` = 1).
pub fn arp_requests() -> Vec<Insn> {
    all_equal(&[(2, 12, 0x0806), (2, 20, 1)])
}

/// Any ARP frame (requests and replies; used for captures and tests).
pub fn arp_any() -> Vec<Insn> {
    all_equal(&[(2, 12, 0x0806)])
}

/// IPv6 ICMPv6 Neighbor Solicitations (next header 58, ICMPv6 type 135).
pub fn neighbor_solicitations() -> Vec<Insn> {
    all_equal(&[(2, 12, 0x86dd), (1, 20, 58), (1, 54, 135)])
}

/// IPv6 ICMPv6 Neighbor Advertisements (type 136; used for captures and tests).
pub fn neighbor_advertisements() -> Vec<Insn> {
    all_equal(&[(2, 12, 0x86dd), (1, 20, 58), (1, 54, 136)])
}

/// Runs `prog` over `frame` with the given `pkttype` — a minimal interpreter covering the
/// opcodes emitted here, used to unit-test the programs against `ferrolb-l2` encoders.
/// Returns the accepted length (0 = drop); out-of-bounds loads drop, as in the kernel.
pub fn run(prog: &[Insn], frame: &[u8], pkttype: u32) -> u32 {
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    // Classic BPF only jumps forward, so this terminates after at most prog.len() steps.
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let load = |n: usize| -> Option<u32> {
            let off = usize::try_from(i.k).ok()?;
            let b = frame.get(off..off.checked_add(n)?)?;
            Some(b.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x)))
        };
        match i.code {
            LD_W_ABS if i.k == AD_PKTTYPE => acc = pkttype,
            LD_W_ABS => match load(4) {
                Some(v) => acc = v,
                None => return 0,
            },
            LD_H_ABS => match load(2) {
                Some(v) => acc = v,
                None => return 0,
            },
            LD_B_ABS => match load(1) {
                Some(v) => acc = v,
                None => return 0,
            },
            JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
            RET_K => return i.k,
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use ferrolb_l2::packet::{
        MacAddr,
        arp::{self, ArpFrame},
        ndp::{self, NaSource, NeighborSolicitation},
    };

    use super::*;

    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    #[test]
    fn programs_select_the_right_frames() {
        let req = ArpFrame::request(
            M,
            Ipv4Addr::new(192, 0, 2, 2),
            Ipv4Addr::new(192, 0, 2, 100),
        );
        let rep = arp::respond(&req, M, |_| true).map(|r| r.encode());
        let rep = rep.as_ref().map(|r| &r[..]).unwrap_or(&[]);
        let ns = NeighborSolicitation::resolve(
            M,
            Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100),
        )
        .encode();
        let na = ndp::unsolicited(
            M,
            NaSource::Target,
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
        )
        .encode();
        let req = req.encode();

        assert_ne!(run(&arp_requests(), &req, 0), 0);
        assert_eq!(run(&arp_requests(), &req, PACKET_OUTGOING), 0);
        assert_eq!(run(&arp_requests(), rep, 0), 0);
        assert_ne!(run(&arp_any(), rep, 0), 0);
        assert_eq!(run(&arp_requests(), &ns, 0), 0);

        assert_ne!(run(&neighbor_solicitations(), &ns, 0), 0);
        assert_eq!(run(&neighbor_solicitations(), &ns, PACKET_OUTGOING), 0);
        assert_eq!(run(&neighbor_solicitations(), &na, 0), 0);
        assert_ne!(run(&neighbor_advertisements(), &na, 0), 0);
        assert_eq!(run(&neighbor_solicitations(), &req, 0), 0);
        assert_eq!(run(&neighbor_solicitations(), &ns[..30], 0), 0);
    }

    #[test]
    fn jumps_stay_in_program() {
        for p in [
            arp_requests(),
            arp_any(),
            neighbor_solicitations(),
            neighbor_advertisements(),
        ] {
            for (i, insn) in p.iter().enumerate() {
                if insn.code == JEQ_K {
                    assert!(i + 1 + usize::from(insn.jt.max(insn.jf)) < p.len());
                }
            }
            assert_eq!(p[p.len() - 1], insn(RET_K, 0, 0, 0));
        }
    }
}
