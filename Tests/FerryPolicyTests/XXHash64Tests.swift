import FerryPolicy
import Testing

@Suite("XXHash64")
struct XXHash64Tests {
    /// Bytes 0..<count of a fixed pattern, so every length exercises different words.
    static func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    }

    @Test("published vectors: the empty input and \"abc\" with seed 0")
    func publishedVectors() {
        #expect(XXHash64.hash("") == 0xEF46_DB37_51D8_E999)
        #expect(XXHash64.hash("abc") == 0x44BC_2CF5_AD77_0999)
    }

    // Computed with the reference C implementation (python-xxhash 4.1.0, `xxh64_intdigest`). The
    // lengths cover every tail path (1, 4 and 8 byte steps) on both sides of the 32-byte stripe loop.
    static let patternVectors: [(length: Int, seed0: UInt64, seedPrime1: UInt64)] = [
        (1, 0xA96C_7F0C_E858_BBB7, 0x0C81_0166_B301_22A5),
        (3, 0x56E6_9576_32A4_87F9, 0x4516_3CDC_31E1_5BE1),
        (4, 0xC60D_15B1_E3FF_8F04, 0xB000_BCF3_F8BC_AEFE),
        (5, 0x8088_1585_8624_DD4E, 0xCA04_F3B2_B8C1_646D),
        (7, 0xAFBE_FC3D_6C6F_9A8E, 0xE10F_33AF_8C47_58A3),
        (8, 0x3DA5_C7AA_2696_83E0, 0xCB4A_80EC_C7A0_94C6),
        (9, 0x4B17_A9BA_9E21_5C09, 0xD98E_EA92_DAAC_E6DB),
        (12, 0x8FE8_AB1C_1FD0_666E, 0x0471_7862_C4FB_FCA8),
        (15, 0xAE2A_37EB_9357_CAA7, 0x3EB4_D31A_7B83_59CA),
        (16, 0xA19A_D429_B02B_C413, 0x0E3F_56E8_8F75_9A50),
        (31, 0x4A74_F3A1_A39A_D4A1, 0x659E_C2B1_252D_56F5),
        (32, 0x8D57_D6A4_671C_C43D, 0xF113_D245_7128_CF6D),
        (33, 0x62C9_FD21_ED85_7664, 0x8457_5B86_0242_FE41),
        (40, 0x49B4_5332_E280_F187, 0xAFB4_F23E_8EB6_4418),
        (63, 0x5C32_0A0D_2707_057F, 0x355C_C187_2A48_6C6E),
        (64, 0x7BBA_BBC4_5729_D17E, 0xEA2D_5E8A_98BE_C153),
        (65, 0xF398_0C34_BAE6_5DC1, 0xE6F9_EB9A_843F_A660),
        (100, 0xEFA0_AD2D_3E70_C151, 0xE10C_FEF3_A9A0_A5C5),
        (1000, 0x9959_4F48_2804_3D35, 0xD79C_60B9_4F81_CBF0),
    ]

    @Test("matches the reference implementation for every input length class and two seeds")
    func referenceVectors() {
        for vector in Self.patternVectors {
            let bytes = Self.pattern(vector.length)
            #expect(XXHash64.hash(bytes) == vector.seed0, "length \(vector.length), seed 0")
            #expect(XXHash64.hash(bytes, seed: 0x9E37_79B1_85EB_CA87) == vector.seedPrime1, "length \(vector.length)")
        }
    }

    @Test("strings hash their UTF-8 bytes; seed 1 is Maglev's skip seed")
    func stringsAndSeeds() {
        #expect(XXHash64.hash("a") == 0xD24E_C4F1_A98C_6E5B)
        #expect(XXHash64.hash("a", seed: 1) == 0xDEC2_BC81_C3CD_46C6)
        #expect(XXHash64.hash("", seed: 1) == 0xD5AF_BA13_36A3_BE4B)
        #expect(XXHash64.hash("Nobody inspects the spammish repetition") == 0xFBCE_A83C_8A37_8BF1)
        // A ring hash entry key as Envoy builds it.
        #expect(XXHash64.hash("10.0.0.1:8080_0") == 0x23A2_9AE7_75DF_D4A3)
        #expect(XXHash64.hash("10.0.0.1:8080_0", seed: 1) == 0x1297_19CB_86BA_9503)
        #expect(XXHash64.hash("héllo wörld ✓") == 0x34D9_919C_86F5_5AC4)
    }

    @Test("the result does not depend on how the bytes are held")
    func containerIndependent() {
        let text = "abcdefghijklmnopqrstuvwxyz"
        let expected: UInt64 = 0xCFE1_F278_FA89_835C
        #expect(XXHash64.hash(text) == expected)
        #expect(XXHash64.hash(Array(text.utf8)) == expected)
        #expect(XXHash64.hash(text.utf8) == expected)
        // A slice that does not start at index 0, and a sequence with no contiguous storage.
        #expect(XXHash64.hash(Array(("__" + text).utf8).dropFirst(2)) == expected)
        #expect(XXHash64.hash(text.utf8.lazy.map { $0 }) == expected)
        // A substring's bytes hash like the whole string's.
        #expect(XXHash64.hash(String(("xx" + text).dropFirst(2))) == expected)
    }

    @Test("one flipped bit changes about half of the output bits")
    func avalanche() {
        var flippedBits = 0
        let base = Self.pattern(40)
        for bit in 0..<(40 * 8) {
            var changed = base
            changed[bit / 8] ^= 1 << (bit % 8)
            flippedBits += (XXHash64.hash(base) ^ XXHash64.hash(changed)).nonzeroBitCount
        }
        let average = Double(flippedBits) / Double(40 * 8)
        // 32 expected; a hash that drops or misplaces a lane lands far from it.
        #expect(abs(average - 32) < 2, "average \(average) bits changed")
    }
}
