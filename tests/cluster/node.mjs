// One aedes node of a test cluster: the nodes share their sessions (aedes-persistence-redis) and their
// messages (mqemitter-redis) through one redis-server. Used by tests/cluster.rs.
//
//   node node.mjs --redis-port N [--port P]
//
// Listens on 127.0.0.1, on port P or (without it, or with 0) on a free port the system chooses, and
// prints `listening <port>` on stdout once it accepts connections. It exits when its standard input
// closes, so a test that dies does not leave nodes behind; a test that wants a crash kills it.
import { createServer } from 'node:net'
import { randomUUID } from 'node:crypto'
import { Aedes } from 'aedes'
import redisPersistence from 'aedes-persistence-redis'
import redisEmitter from 'mqemitter-redis'

function arg (name, fallback) {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : fallback
}

const redis = { host: '127.0.0.1', port: Number(arg('--redis-port', '6379')) }
const port = Number(arg('--port', '0'))

const mq = redisEmitter(redis)
// An error on the emitter's redis connections would otherwise end the process (an 'error' event
// nobody listens to).
mq.state.on('error', (e) => process.stderr.write(`node.mjs: redis (messages): ${e.message}\n`))

const broker = await Aedes.createBroker({
  // A fresh id for every start: the other nodes then treat a restarted node as a new one, and its
  // clients' queued messages are not taken for messages that node already delivered.
  id: 'node-' + randomUUID(),
  mq,
  persistence: redisPersistence({
    ...redis,
    // The most a client is sent, when it comes back, of what it missed: the default (1000) would
    // drop the rest of a longer outage.
    maxSessionDelivery: 100000
  })
})

// What closes a connection, on stderr: the test's output shows it when a test fails.
const say = (what, client, err) => {
  const at = server.address() ? server.address().port : port
  process.stderr.write(`aedes ${at}: ${what} ${client && client.id}: ${err.message}\n`)
}
broker.on('clientError', (client, err) => say('client', client, err))
broker.on('connectionError', (client, err) => say('connection', client, err))

const server = createServer(broker.handle)
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`)
})
server.on('error', (e) => {
  process.stderr.write(`node.mjs: ${e.message}\n`)
  process.exit(1)
})

process.stdin.resume()
process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
