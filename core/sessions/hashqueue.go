package sessions

// hashQueue is the hashing pool's queue of jobs waiting for a worker. It
// is fair between client networks (contract.ClientNetwork: an IPv4 address or
// an IPv6 /64), the principle of the plugins' per-address connection
// queue: each network's jobs wait in their own line, oldest first, and
// the networks are served in turn, one job each, so one address with many
// connections cannot make a fresh address wait behind all of them. Async
// also caps how many jobs one network may have waiting
// (hashQueuePerAddress). It belongs to the loop.
type hashQueue struct {
	// byNet holds each network's waiting jobs, oldest first; a network
	// with none has no entry.
	byNet map[string][]asyncJob
	// turn lists the networks with waiting jobs, the next to be served
	// first; a network served that still has jobs goes to the back.
	turn []string
	n    int
}

// len is the number of jobs waiting.
func (q *hashQueue) len() int { return q.n }

// waitingFrom is the number of jobs network has waiting.
func (q *hashQueue) waitingFrom(network string) int { return len(q.byNet[network]) }

// push adds j at the end of its network's line.
func (q *hashQueue) push(j asyncJob) {
	if q.byNet == nil {
		q.byNet = map[string][]asyncJob{}
	}
	line := q.byNet[j.network]
	if len(line) == 0 {
		q.turn = append(q.turn, j.network)
	}
	q.byNet[j.network] = append(line, j)
	q.n++
}

// pop takes the oldest job of the network whose turn it is.
func (q *hashQueue) pop() (asyncJob, bool) {
	if len(q.turn) == 0 {
		return asyncJob{}, false
	}
	network := q.turn[0]
	q.turn[0] = ""
	q.turn = q.turn[1:]
	line := q.byNet[network]
	j := line[0]
	line[0] = asyncJob{}
	if line = line[1:]; len(line) > 0 {
		q.byNet[network] = line
		q.turn = append(q.turn, network)
	} else {
		delete(q.byNet, network)
	}
	q.n--
	if q.n == 0 {
		*q = hashQueue{} // let the backing arrays go
	}
	return j, true
}

// takeAll empties the queue and returns its jobs in the order they would
// have run.
func (q *hashQueue) takeAll() []asyncJob {
	jobs := make([]asyncJob, 0, q.n)
	for {
		j, ok := q.pop()
		if !ok {
			return jobs
		}
		jobs = append(jobs, j)
	}
}
