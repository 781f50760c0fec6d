import Foundation
import Spaces
import Testing
import _TestSupport

@Suite struct ArchitectureTests {
    final class Counter: RandomSource {
        var state: UInt64 = 12345
        func int(below n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
    }

    @Test func spreadSamplesLandInEveryCostBin() throws {
        let space = try SpaceFile.load(repositoryFile("search-spaces/fmnist-shufflenet.yaml"))
        let lo = space.cost(space.smallest).macs, hi = space.cost(space.largest).macs
        let rng = Counter()
        let bins = 10, width = (hi - lo) / bins
        var uniformInBin0 = 0
        for i in 0..<bins {
            let target = lo + width * i + width / 2
            for _ in 0..<5 {
                let a = space.randomArchitecture(nearMACs: target, tolerance: width / 2, rng: rng)
                try space.validate(a)
                #expect(abs(space.cost(a).macs - target) <= width / 2, "bin \(i): \(space.cost(a).macs) for \(target)")
            }
        }
        // What the spreading is for: uniform draws almost never reach the cheapest bin.
        for _ in 0..<200 where space.cost(space.randomArchitecture(rng)).macs < lo + width { uniformInBin0 += 1 }
        #expect(uniformInBin0 < 10)
    }

    @Test func textAndJSONRoundTrips() throws {
        let space = try SpaceFile.parse(validSpace, file: "tiny.yaml")
        let rng = Counter()
        for _ in 0..<50 {
            let a = space.randomArchitecture(rng)
            try space.validate(a)
            #expect(try Architecture(parsing: a.description, space: space) == a)
            let data = try JSONEncoder().encode(a)
            #expect(try JSONDecoder().decode(Architecture.self, from: data) == a)
        }
        let a = try Architecture(parsing: "8/12:xception@0.5,shuffle3@1.0,mbconv3_e3@1.0", space: space)
        #expect(a.widths == [8, 12] && a.genes[0] == Architecture.Gene(op: .xception, ratioTenths: 5))
    }

    @Test func invalidArchitecturesAreRejected() throws {
        let space = try SpaceFile.parse(validSpace, file: "tiny.yaml")
        func message(_ text: String) -> String {
            do { _ = try Architecture(parsing: text, space: space); return "no error" } catch { return "\(error)" }
        }
        #expect(message("16/12:xception@0.5,shuffle3@1.0,mbconv3_e3@1.0")
                == "architecture: stage 0 width 16 is not one of [6, 8] (largest allocated 8)")
        #expect(message("8/12:xception@0.5,shuffle3@1.0").contains("2 block genes for 3 blocks"))
        #expect(message("8/12:xception@0.7,shuffle3@1.0,mbconv3_e3@1.0").contains("ratio 0.7 is not one of"))
        #expect(message("8/12:mbconv3_e3@0.5,shuffle3@1.0,mbconv3_e3@1.0").contains("operator mbconv3_e3 is not one of"))
        #expect(message("8/12 xception").contains("expected WIDTHS:GENES"))
    }

    @Test func handComputedCosts() throws {
        let space = try SpaceFile.parse(validSpace, file: "tiny.yaml")
        // 8/12: shuffle3@1.0 (stride 2, 4 -> 8, mid = 8/2 * 1.0 = 4, 8x8 -> 4x4),
        //       xception@0.5 (stride 1, 8 -> 8, mid = 2, 4x4),
        //       mbconv3_e3@1.0 (stride 2, 8 -> 12, mid = 24, 4x4 -> 2x2).
        let a = try Architecture(parsing: "8/12:shuffle3@1.0,xception@0.5,mbconv3_e3@1.0", space: space)
        let stem = 9 * 1 * 4 * 64
        let b0 = (9 * 4 * 16 + 4 * 4 * 16) + (4 * 4 * 64 + 9 * 4 * 16 + 4 * 4 * 16)   // proj + main (pw1 at 8x8)
        let b1 = 9 * 4 * 16 + 4 * 2 * 16 + 9 * 2 * 16 + 2 * 2 * 16 + 9 * 2 * 16 + 2 * 4 * 16
        let b2 = 8 * 24 * 16 + 9 * 24 * 4 + 24 * 12 * 4
        let head = 12 * 16 * 4 + 16 * 3
        #expect(space.cost(a).macs == stem + b0 + b1 + b2 + head)
        let p0 = (9 * 4 + 8 + 16 + 8) + (4 * 4 + 8 + 9 * 4 + 8 + 4 * 4 + 8)
        let p1 = 9 * 4 + 8 + 4 * 2 + 4 + 9 * 2 + 4 + 2 * 2 + 4 + 9 * 2 + 4 + 2 * 4 + 8
        let p2 = 8 * 24 + 48 + 9 * 24 + 48 + 24 * 12 + 24
        #expect(space.cost(a).parameters == (9 * 4 + 8) + p0 + p1 + p2 + (12 * 16 + 32 + 16 * 3 + 3))
        #expect(abs(space.log10Candidates - log10(2.0 * 4 * 4 * 1)) < 1e-9)
    }
}
