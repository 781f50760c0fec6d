import Distributed
import Testing

@Suite("MPI job detection") struct JobTests {
    @Test("MPI is used only when a launcher set its variables; one process otherwise")
    func detection() throws {
        #expect(!Job.launchedUnderMPI([:]))
        #expect(!Job.launchedUnderMPI(["PATH": "/usr/bin", "OMPI_MCA_foo": "1"]))
        #expect(Job.launchedUnderMPI(["OMPI_COMM_WORLD_SIZE": "2"]))
        #expect(Job.launchedUnderMPI(["PMIX_RANK": "0"]))
        #expect(Job.launchedUnderMPI(["PMI_SIZE": "4"]))
        #expect(Job.localSize([:]) == 1 && Job.localSize(["OMPI_COMM_WORLD_LOCAL_SIZE": "3"]) == 3)
        // This test process was not launched by mpirun: one process, collectives are the identity.
        let job = try Job.communicator()
        #expect(job.rank == 0 && job.size == 1 && job.isWriter)
        var x: [Float] = [1, 2]
        try x.withUnsafeMutableBufferPointer { try job.allreduceSum($0.baseAddress!, count: 2) }
        #expect(x == [1, 2])
        #expect(try job.allgather([3, 4]) == [[3, 4]])
    }
}
