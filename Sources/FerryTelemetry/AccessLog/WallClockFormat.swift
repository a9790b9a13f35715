/// A `%START_TIME(...)%` pattern compiled once at config load: strftime-style specifiers plus
/// Envoy's fractional seconds (`%f` = 9 digits, `%1f`…`%9f`), always in UTC.
///
/// It runs for every logged request, so it does integer civil-date math (days-from-civil) and
/// appends bytes; no Foundation formatter, no allocation besides the output buffer's growth.
/// Supported: %Y %m %d %H %M %S %y %j %e %a %A %b %h %B %p %I %u %w %T %F %D %R %z (+0000)
/// %Z (UTC) %s (epoch seconds) %n %t %% %f %1f..%9f. Any other specifier is copied as written.
struct WallClockFormat: Sendable, Hashable {
    enum Piece: Sendable, Hashable {
        case literal([UInt8])
        case year, year2, month, day, daySpacePadded, dayOfYear
        case hour, hour12, minute, second, amPM
        case weekdayShort, weekdayLong, weekdayFromMonday, weekdayFromSunday
        case monthShort, monthLong
        case epochSeconds
        case fraction(digits: Int)
    }

    let pieces: [Piece]

    /// Envoy's default `%START_TIME%`: `2026-11-23T04:13:34.278Z`.
    static let envoyDefault = WallClockFormat("%Y-%m-%dT%H:%M:%S.%3fZ")

    init(_ pattern: String) {
        var pieces: [Piece] = []
        var literal: [UInt8] = []
        func emit(_ new: [Piece]) {
            if !literal.isEmpty { pieces.append(.literal(literal)); literal = [] }
            pieces.append(contentsOf: new)
        }
        let bytes = Array(pattern.utf8)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            guard byte == UInt8(ascii: "%"), i + 1 < bytes.count else {
                literal.append(byte)
                i += 1
                continue
            }
            let spec = bytes[i + 1]
            let isDigit = spec >= UInt8(ascii: "1") && spec <= UInt8(ascii: "9")
            if isDigit, i + 2 < bytes.count, bytes[i + 2] == UInt8(ascii: "f") {
                emit([.fraction(digits: Int(spec - UInt8(ascii: "0")))])
                i += 3
                continue
            }
            i += 2
            switch spec {
            case UInt8(ascii: "%"): literal.append(UInt8(ascii: "%"))
            case UInt8(ascii: "n"): literal.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "t"): literal.append(UInt8(ascii: "\t"))
            case UInt8(ascii: "z"): literal.append(contentsOf: "+0000".utf8)
            case UInt8(ascii: "Z"): literal.append(contentsOf: "UTC".utf8)
            default:
                if let expansion = Self.specifiers[spec] {
                    emit(expansion)
                } else {
                    literal.append(contentsOf: [UInt8(ascii: "%"), spec])
                }
            }
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    private static let specifiers: [UInt8: [Piece]] = {
        let colon = Piece.literal([UInt8(ascii: ":")])
        let dash = Piece.literal([UInt8(ascii: "-")])
        let slash = Piece.literal([UInt8(ascii: "/")])
        let table: [(Character, [Piece])] = [
            ("Y", [.year]), ("y", [.year2]), ("m", [.month]), ("d", [.day]), ("e", [.daySpacePadded]),
            ("j", [.dayOfYear]), ("H", [.hour]), ("I", [.hour12]), ("M", [.minute]), ("S", [.second]),
            ("p", [.amPM]), ("a", [.weekdayShort]), ("A", [.weekdayLong]), ("u", [.weekdayFromMonday]),
            ("w", [.weekdayFromSunday]), ("b", [.monthShort]), ("h", [.monthShort]), ("B", [.monthLong]),
            ("s", [.epochSeconds]), ("f", [.fraction(digits: 9)]),
            ("T", [.hour, colon, .minute, colon, .second]), ("R", [.hour, colon, .minute]),
            ("F", [.year, dash, .month, dash, .day]), ("D", [.month, slash, .day, slash, .year2]),
        ]
        return Dictionary(uniqueKeysWithValues: table.map { (UInt8(ascii: $0.0.unicodeScalars.first!), $0.1) })
    }()

    /// Appends the instant `nanos` (nanoseconds since 1970, UTC) laid out by this pattern.
    func write(nanos: Int64, into out: inout [UInt8]) {
        let t = CivilTime(nanos: nanos)
        for piece in pieces {
            switch piece {
            case .literal(let bytes): out.append(contentsOf: bytes)
            case .year: out.appendDecimal(t.year)
            case .year2: out.appendPadded(Int(((t.year % 100) + 100) % 100), width: 2)
            case .month: out.appendPadded(t.month, width: 2)
            case .day: out.appendPadded(t.day, width: 2)
            case .daySpacePadded: out.appendPadded(t.day, width: 2, pad: UInt8(ascii: " "))
            case .dayOfYear: out.appendPadded(t.dayOfYear, width: 3)
            case .hour: out.appendPadded(t.hour, width: 2)
            case .hour12: out.appendPadded(t.hour % 12 == 0 ? 12 : t.hour % 12, width: 2)
            case .minute: out.appendPadded(t.minute, width: 2)
            case .second: out.appendPadded(t.second, width: 2)
            case .amPM: out.append(contentsOf: (t.hour < 12 ? "AM" : "PM").utf8)
            case .weekdayShort: out.append(contentsOf: Self.weekdays[t.weekday].utf8.prefix(3))
            case .weekdayLong: out.append(contentsOf: Self.weekdays[t.weekday].utf8)
            case .weekdayFromMonday: out.appendDecimal(Int64(t.weekday == 0 ? 7 : t.weekday))
            case .weekdayFromSunday: out.appendDecimal(Int64(t.weekday))
            case .monthShort: out.append(contentsOf: Self.months[t.month - 1].utf8.prefix(3))
            case .monthLong: out.append(contentsOf: Self.months[t.month - 1].utf8)
            case .epochSeconds: out.appendDecimal(t.epochSeconds)
            case .fraction(let digits):
                var divisor = 1
                for _ in digits..<9 { divisor *= 10 }
                out.appendPadded(t.nanosecond / divisor, width: digits)
            }
        }
    }

    private static let weekdays = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let months = ["January", "February", "March", "April", "May", "June", "July", "August",
                                 "September", "October", "November", "December"]
}

/// A UTC calendar breakdown of an instant, by Howard Hinnant's days-from-civil inverse
/// (proleptic Gregorian, valid for every `Int64` nanosecond instant, before 1970 included).
struct CivilTime: Equatable {
    var year: Int64
    var month: Int       // 1...12
    var day: Int         // 1...31
    var dayOfYear: Int   // 1...366
    var weekday: Int     // 0 = Sunday
    var hour: Int
    var minute: Int
    var second: Int
    var nanosecond: Int
    var epochSeconds: Int64

    init(nanos: Int64) {
        let (seconds, subsecond) = Self.floorDivide(nanos, 1_000_000_000)
        let (days, secondOfDay) = Self.floorDivide(seconds, 86_400)
        epochSeconds = seconds
        nanosecond = Int(subsecond)
        hour = Int(secondOfDay / 3600)
        minute = Int(secondOfDay % 3600 / 60)
        second = Int(secondOfDay % 60)
        weekday = Int(Self.floorDivide(days + 4, 7).remainder)  // 1970-01-01 was a Thursday

        // Shift the epoch to 0000-03-01 so that the leap day ends a 400-year era.
        let z = days + 719_468
        let era = Self.floorDivide(z, 146_097).quotient
        let dayOfEra = z - era * 146_097                                                      // 0...146096
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // 0...399
        let dayOfMarchYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // 0...365
        let monthFromMarch = (5 * dayOfMarchYear + 2) / 153                                  // 0...11
        day = Int(dayOfMarchYear - (153 * monthFromMarch + 2) / 5 + 1)
        month = Int(monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9)
        year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)

        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        dayOfYear = Self.daysBeforeMonth[month - 1] + day + (leap && month > 2 ? 1 : 0)
    }

    private static let daysBeforeMonth = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334]

    static func floorDivide(_ a: Int64, _ b: Int64) -> (quotient: Int64, remainder: Int64) {
        let q = a / b
        let r = a - q * b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }
}

extension Array where Element == UInt8 {
    /// Appends `value` in decimal without allocating a String.
    mutating func appendDecimal(_ value: Int64) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            appendDecimal(value.magnitude)
        } else {
            appendDecimal(UInt64(value))
        }
    }

    mutating func appendDecimal(_ value: UInt64) {
        var divisor: UInt64 = 1
        while divisor <= value / 10 { divisor *= 10 }  // the largest power of ten not above value
        var rest = value
        while divisor > 0 {
            append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }

    /// Appends a non-negative `value` left-padded with `pad` to at least `width` digits.
    mutating func appendPadded(_ value: Int, width: Int, pad: UInt8 = UInt8(ascii: "0")) {
        var length = 1
        var probe = value / 10
        while probe > 0 { length += 1; probe /= 10 }
        for _ in length..<Swift.max(length, width) { append(pad) }
        appendDecimal(UInt64(value))
    }
}
