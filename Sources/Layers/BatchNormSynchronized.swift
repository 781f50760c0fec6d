import TensorCore

/// Synchronized BatchNorm (data-parallel training): the batch statistics, and the sums the
/// backward pass needs, are summed over every process of the job, so that each process
/// normalizes with the statistics of the whole global batch, as one process would.
extension BatchNorm {
    func forwardSynchronized(_ x: FeatureMap, _ y: FeatureMap, sync: CrossProcessSum, factor: Float) {
        let n = x.channels, m = x.plane
        let stats = UnsafeMutablePointer<Double>.allocate(capacity: 2 * n + 1)
        defer { stats.deallocate() }
        engine.chunks(n, work: x.count) { channels in
            for c in channels {
                let (s, q) = Vector.sumAndSquares(x.pointer + c * m, count: m)
                stats[2 * c] = s; stats[2 * c + 1] = q
            }
        }
        stats[2 * n] = Double(m)
        sync.sum(stats, count: 2 * n + 1)
        let total = stats[2 * n]
        synchronizedCount = Float(total)
        let relu = fusedReLU
        engine.chunks(n, work: x.count) { channels in
            for c in channels {
                let mu = stats[2 * c] / total
                let variance = max(stats[2 * c + 1] / total - mu * mu, 0)
                let mean = Float(mu), invStd = 1 / (Float(variance) + epsilon).squareRoot()
                batchMean[c] = mean
                batchInvStd[c] = invStd
                let unbiased = total > 1 ? Float(variance * total / (total - 1)) : Float(variance)
                runningMean[c] = (1 - factor) * runningMean[c] + factor * mean
                runningVariance[c] = (1 - factor) * runningVariance[c] + factor * unbiased
                let scale = gamma.value[c] * invStd
                BatchNorm.affine(x.pointer + c * m, y.pointer + c * m, count: m, scale: scale, shift: beta.value[c] - mean * scale, relu: relu)
            }
        }
    }

    func backwardSynchronized(_ x: FeatureMap, _ y: FeatureMap, _ dy: FeatureMap, _ dx: FeatureMap, sync: CrossProcessSum) {
        let n = x.channels, m = x.plane
        let sums = UnsafeMutablePointer<Double>.allocate(capacity: 2 * n)
        defer { sums.deallocate() }
        let relu = fusedReLU
        engine.chunks(n, work: x.count * 2) { channels in
            for c in channels {
                let (g, gx) = Self.gradientSums(x.pointer + c * m, y.pointer + c * m, dy.pointer + c * m, count: m, relu: relu,
                                                mean: batchMean[c], invStd: batchInvStd[c])
                // This process's share: the gradient allreduce sums the parameters' over the job.
                gamma.grad[c] += gx
                beta.grad[c] += g
                sums[2 * c] = Double(g); sums[2 * c + 1] = Double(gx)
            }
        }
        sync.sum(sums, count: 2 * n)
        let total = synchronizedCount
        engine.chunks(n, work: x.count * 2) { channels in
            for c in channels {
                writeInputGradient(c, x.pointer + c * m, y.pointer + c * m, dy.pointer + c * m, dx.pointer + c * m, count: m,
                                          total: total, sumG: Float(sums[2 * c]), sumGXhat: Float(sums[2 * c + 1]))
            }
        }
    }
}
