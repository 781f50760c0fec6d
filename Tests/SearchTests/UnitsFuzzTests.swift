import Search
import Testing
import _TestSupport

/// Budget values typed on the command line: counts and durations parse or are refused —
/// never a trap on huge, negative or non-finite input.
@Suite struct UnitsFuzzTests {
    @Test func knownValues() {
        #expect(parseCount("3M") == 3_000_000 && parseCount("800k") == 800_000 && parseCount("1.5G") == 1_500_000_000)
        #expect(parseCount("1e19") == nil && parseCount("nan") == nil && parseCount("-1") == nil && parseCount("infM") == nil)
        #expect(parseMilliseconds("1.2ms") == 1.2 && parseMilliseconds("800us") == 0.8 && parseMilliseconds("0.5s") == 500)
        #expect(parseMilliseconds("1e300s") == nil && parseMilliseconds("-1ms") == nil && parseMilliseconds("nan") == nil)
        #expect(parseBytes("32KB") == 32_000 && parseBytes("64KiB") == 65_536 && parseBytes("1.5MB") == 1_500_000 && parseBytes("20000") == 20_000)
        #expect(parseBytes("2 MiB") == 2 << 20 && parseBytes("512b") == 512 && parseBytes("64k") == 64_000)
        #expect(parseBytes("0KB") == nil && parseBytes("-1KB") == nil && parseBytes("1e300MB") == nil && parseBytes("KB") == nil && parseBytes("nan") == nil)
        #expect(readableBytes(812) == "812 B" && readableBytes(32_768) == "32.0 KiB" && readableBytes(3 << 20) == "3.00 MiB")
    }

    @Test func mutatedCounts() {
        var fuzz = Fuzzer(salt: 4, defaultCases: 2000)
        for _ in 0..<fuzz.cases {
            let text = fuzz.mutate(text: fuzz.pick(["3M", "800K", "1.5G", "2500000", "0.95ms", "800us", "1e3", "32KB", "64KiB"]))
            if let c = parseCount(text) { #expect(c >= 0 && c <= 1_000_000_000_000_000) }
            if let ms = parseMilliseconds(text) { #expect(ms > 0 && ms.isFinite) }
            if let b = parseBytes(text) { #expect(b > 0 && b <= 1_000_000_000_000) }
        }
    }
}
