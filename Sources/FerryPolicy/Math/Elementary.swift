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
    @inlinable
    var wholeNanoseconds: Int64 {
        Int64(truncatingIfNeeded: attoseconds / 1_000_000_000)
    }
}
