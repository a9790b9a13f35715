#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif

/// The two elementary functions the policies need (latency decay, least-request bias), taken from
/// the platform C library so that FerryPolicy stays free of Foundation.
enum Elementary {
    @inline(__always)
    static func exp(_ x: Double) -> Double {
        #if canImport(Glibc)
        Glibc.exp(x)
        #elseif canImport(Musl)
        Musl.exp(x)
        #else
        Darwin.exp(x)
        #endif
    }

    @inline(__always)
    static func pow(_ base: Double, _ exponent: Double) -> Double {
        #if canImport(Glibc)
        Glibc.pow(base, exponent)
        #elseif canImport(Musl)
        Musl.pow(base, exponent)
        #else
        Darwin.pow(base, exponent)
        #endif
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) * 1e-18
    }

    /// Whole milliseconds, rounded down.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Whole nanoseconds, truncated towards zero. The governance policies keep their clocks in
    /// nanoseconds: integer arithmetic on them is exact and cheaper than `Duration`'s 128-bit one.
    /// The usual case (0 ≤ attoseconds < 10⁹·2⁶⁴, about 585 years) is one 128-by-64-bit
    /// hardware division instead of the runtime's general 128-bit one (`__divti3`), which the
    /// limiters, breakers and bulkheads called several times per request.
    @inlinable
    var wholeNanoseconds: Int64 {
        let a = attoseconds
        if a >= 0 {
            let high = UInt64(truncatingIfNeeded: a >> 64), low = UInt64(truncatingIfNeeded: a)
            if high < 1_000_000_000 {
                return Int64(truncatingIfNeeded: UInt64(1_000_000_000).dividingFullWidth((high: high, low: low)).quotient)
            }
        }
        return Int64(truncatingIfNeeded: a / 1_000_000_000)
    }
}
