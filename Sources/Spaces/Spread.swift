extension SearchSpace {
    /// A random architecture whose MACs fall within `tolerance` of `target`: a uniform draw,
    /// then random single changes (a block's ratio one choice up or down, a block's
    /// operator, a stage's width one choice up or down), each kept only when it does not
    /// move the cost away from the target. Bounded; returns the closest candidate seen when
    /// the target is out of reach. Spreads samples over the whole cost range, where uniform
    /// draws crowd around the middle.
    public func randomArchitecture(nearMACs target: Int, tolerance: Int, rng: RandomSource, maxSteps: Int = 2000) -> Architecture {
        var a = randomArchitecture(rng)
        var gap = abs(cost(a).macs - target)
        let slots = blocks
        let elastic = stages.indices.filter { stages[$0].hasElasticDepth }
        for _ in 0..<maxSteps where gap > tolerance {
            var b = a
            let step = cost(a).macs < target ? 1 : -1
            // Elastic spaces also move a stage's depth one choice up or down (case 5).
            switch rng.int(below: elastic.isEmpty ? 5 : 6) {
            case 0:
                let s = rng.int(below: stages.count)
                let choices = stages[s].widths.sorted()
                guard let i = choices.firstIndex(of: b.widths[s]), choices.indices.contains(i + step) else { continue }
                b.widths[s] = choices[i + step]
            case 1:
                let k = rng.int(below: slots.count)
                guard !b.genes[k].skipped else { continue }
                b.genes[k].op = slots[k].operators[rng.int(below: slots[k].operators.count)]
            case 5:
                let s = elastic[rng.int(below: elastic.count)]
                let choices = stages[s].depthChoices
                guard let i = choices.firstIndex(of: depth(of: b, stage: s)), choices.indices.contains(i + step) else { continue }
                b = setting(depth: choices[i + step], stage: s, of: b, rng: rng)
            default:
                let k = rng.int(below: slots.count)
                guard !b.genes[k].skipped else { continue }
                let choices = slots[k].middleRatios.sorted()
                guard let i = choices.firstIndex(of: b.genes[k].ratioTenths), choices.indices.contains(i + step) else { continue }
                b.genes[k].ratioTenths = choices[i + step]
            }
            let g = abs(cost(b).macs - target)
            if g <= gap { a = b; gap = g }
        }
        return a
    }
}
