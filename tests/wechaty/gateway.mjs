#!/usr/bin/env node
/**
 * Test gateway: the real TypeScript Wechaty PuppetServer (gRPC) backed by the mock puppet.
 *
 * The Python adapter under test connects to the gRPC endpoint exactly as it would connect to a
 * production Wechaty gateway; the tests drive the mock WeChat world through a small HTTP control
 * API on a second loopback port.
 *
 * Configuration (command-line flags win over environment variables):
 *   --port N          / GATEWAY_PORT          gRPC port on 127.0.0.1 (required)
 *   --control-port N  / GATEWAY_CONTROL_PORT  control API port on 127.0.0.1 (0 = pick a free one)
 *   --token T         / GATEWAY_TOKEN         the token clients must present (required)
 *   --tls on|off      / GATEWAY_TLS           serve gRPC over TLS (default off)
 *   --tls-cert PATH   / GATEWAY_TLS_CERT      PEM server certificate chain (required with --tls on)
 *   --tls-key PATH    / GATEWAY_TLS_KEY       PEM server private key (required with --tls on)
 *   --lifetime SEC    / GATEWAY_LIFETIME      exit by itself after SEC seconds (default 300)
 *   --exit-on-stdin-close                     also exit when stdin reaches EOF (parent went away)
 *
 * When both servers listen, exactly one line is printed on stdout:
 *   READY grpc=<port> control=<port> tls=<on|off>
 *
 * Control API (JSON over HTTP, loopback only):
 *   GET  /state                    bot user id, login state, fixture ids
 *   POST /say   {from, text, room?, to?, mentions?}
 *               room given: `from` says `text` in the room mentioning `mentions` (contact ids);
 *               otherwise `from` says `text` privately to `to` (default: the bot)
 *   GET  /sent                     every text the bot sent through the gateway, oldest first:
 *                                  {id, conversationId, roomId, toId, text, mentionIds, at}
 *   POST /sent/clear               forget the recorded sent messages
 */
import http from 'node:http'
import fs from 'node:fs'
import { parseArgs } from 'node:util'

import { log } from 'wechaty-puppet'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'

const HOST = '127.0.0.1'

const { values: argv } = parseArgs({
  options: {
    port: { type: 'string' },
    'control-port': { type: 'string' },
    token: { type: 'string' },
    tls: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    lifetime: { type: 'string' },
    'exit-on-stdin-close': { type: 'boolean', default: false },
  },
})

function setting (flag, envName, fallback) {
  const value = argv[flag] ?? process.env[envName]
  return value === undefined || value === '' ? fallback : value
}

function fail (message) {
  process.stderr.write(`gateway: ${message}\n`)
  process.exit(2)
}

const grpcPort = Number(setting('port', 'GATEWAY_PORT', ''))
const controlPort = Number(setting('control-port', 'GATEWAY_CONTROL_PORT', '0'))
const token = setting('token', 'GATEWAY_TOKEN', undefined)
const tlsOn = ['on', 'true', '1', 'yes'].includes(String(setting('tls', 'GATEWAY_TLS', 'off')).toLowerCase())
const tlsCertPath = setting('tls-cert', 'GATEWAY_TLS_CERT', undefined)
const tlsKeyPath = setting('tls-key', 'GATEWAY_TLS_KEY', undefined)
const lifetimeSeconds = Number(setting('lifetime', 'GATEWAY_LIFETIME', '300'))

if (!token) fail('a token is required (--token or GATEWAY_TOKEN)')
// A fixed gRPC port: the tests restart the gateway on the same port to prove reconnection.
if (!Number.isInteger(grpcPort) || grpcPort <= 0) fail('a gRPC port is required (--port or GATEWAY_PORT)')
if (!Number.isInteger(controlPort) || controlPort < 0) fail(`bad control port: ${controlPort}`)
if (!(lifetimeSeconds > 0)) fail(`bad lifetime: ${lifetimeSeconds}`)
if (tlsOn && !(tlsCertPath && tlsKeyPath)) fail('--tls on needs --tls-cert and --tls-key')

// Wechaty's logger writes `info` to stdout; keep stdout for the READY line unless asked otherwise.
log.level(process.env.WECHATY_LOG || 'warn')

/* ------------------------------------------------------------------ the mock WeChat world */

const BOT = { id: 'wxid_gridbot', name: '网格通' }
const ROOM = { id: 'room1@chatroom', topic: '幸福社区第一网格工作群' }
const CONTACTS = [
  { id: 'wxid_leader1', name: '张楼长' },
  // A resident whose group nickname (room alias) differs from the WeChat name: replies that
  // mention them must use the room alias, as WeChat clients do.
  { id: 'wxid_resident1', name: '李明', roomAlias: '3栋2单元李明' },
  // Platform accounts the bot must never answer.
  { id: 'weixin', name: '微信团队', type: 2 },
  { id: 'filehelper', name: '文件传输助手' },
  { id: 'gh_3a5f1b2c9d7e', name: '幸福社区公众号', type: 2 },
]

const sent = []
const roomAliases = new Map() // `${roomId}/${contactId}` -> room alias

/**
 * The stock mock drops mention ids on send and has no room aliases; this subclass records what
 * actually arrived over gRPC (text + mention ids) and serves the fixture's room aliases.
 */
class RecordingPuppetMock extends PuppetMock {
  async messageSendText (conversationId, text, mentionIdList) {
    // `say().to()` emits the new message synchronously: catch its id to return it to the client.
    let messageId
    const onMessage = payload => { messageId = payload.messageId }
    this.on('message', onMessage)
    try {
      await super.messageSendText(conversationId, text, mentionIdList)
    } finally {
      this.off('message', onMessage)
    }
    const isRoom = conversationId.includes('@')
    sent.push({
      id: messageId ?? null,
      conversationId,
      roomId: isRoom ? conversationId : null,
      toId: isRoom ? null : conversationId,
      text,
      mentionIds: [...(mentionIdList ?? [])],
      at: Date.now(),
    })
    return messageId
  }

  async roomMemberRawPayload (roomId, contactId) {
    const payload = await super.roomMemberRawPayload(roomId, contactId)
    const roomAlias = roomAliases.get(`${roomId}/${contactId}`)
    return roomAlias ? { ...payload, roomAlias } : payload
  }
}

const mocker = new mock.Mocker()
const puppet = new RecordingPuppetMock({ mocker })

const botUser = mocker.createContact({ id: BOT.id, name: BOT.name, alias: undefined })
const contacts = new Map()
for (const c of CONTACTS) {
  contacts.set(c.id, mocker.createContact({ id: c.id, name: c.name, type: c.type ?? 1 }))
  if (c.roomAlias) roomAliases.set(`${ROOM.id}/${c.id}`, c.roomAlias)
}
contacts.set(BOT.id, botUser)
const room = mocker.createRoom({
  id: ROOM.id,
  topic: ROOM.topic,
  memberIdList: [BOT.id, 'wxid_leader1', 'wxid_resident1'],
  ownerId: 'wxid_leader1',
  adminIdList: ['wxid_leader1'],
})

// Mocker behaviours run on every puppet start: a client may stop+start the puppet over gRPC
// (the stock Python client does), which logs the bot out, so log it back in each time.
mocker.use(function loginBot (m) {
  if (!m.puppet.isLoggedIn) m.login(botUser)
  return () => {}
})

/* ------------------------------------------------------------------ control API */

function readJson (req) {
  return new Promise((resolve, reject) => {
    const chunks = []
    req.on('data', chunk => chunks.push(chunk))
    req.on('end', () => {
      try {
        const body = Buffer.concat(chunks).toString('utf8')
        resolve(body ? JSON.parse(body) : {})
      } catch (e) {
        reject(e)
      }
    })
    req.on('error', reject)
  })
}

function reply (res, status, body) {
  const data = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
  res.end(data)
}

function contactOr400 (id) {
  const contact = contacts.get(id)
  if (!contact) throw Object.assign(new Error(`unknown contact: ${id}`), { status: 400 })
  return contact
}

async function handle (req, res) {
  const url = new URL(req.url, `http://${HOST}`)
  const route = `${req.method} ${url.pathname}`
  switch (route) {
    case 'GET /state':
      return reply(res, 200, {
        loggedIn: puppet.isLoggedIn,
        userId: puppet.isLoggedIn ? puppet.currentUserId : null,
        botId: BOT.id,
        botName: BOT.name,
        roomId: ROOM.id,
        roomTopic: ROOM.topic,
        contacts: CONTACTS.map(c => ({ id: c.id, name: c.name, roomAlias: c.roomAlias ?? null })),
      })
    case 'POST /say': {
      const body = await readJson(req)
      if (typeof body.text !== 'string') return reply(res, 400, { error: 'text must be a string' })
      const speaker = contactOr400(body.from)
      if (body.room) {
        if (body.room !== ROOM.id) return reply(res, 400, { error: `unknown room: ${body.room}` })
        const mentions = (body.mentions ?? []).map(contactOr400)
        speaker.say(body.text, mentions).to(room)
      } else {
        speaker.say(body.text).to(contactOr400(body.to ?? BOT.id))
      }
      return reply(res, 200, { ok: true })
    }
    case 'GET /sent':
      return reply(res, 200, { messages: sent })
    case 'POST /sent/clear':
      sent.length = 0
      return reply(res, 200, { ok: true })
    default:
      return reply(res, 404, { error: `no route: ${route}` })
  }
}

const control = http.createServer((req, res) => {
  handle(req, res).catch(e => reply(res, e.status ?? 500, { error: String(e.message ?? e) }))
})

/* ------------------------------------------------------------------ lifecycle */

const server = new PuppetServer({
  endpoint: `${HOST}:${grpcPort}`,
  puppet,
  token,
  tls: tlsOn
    ? {
        disable: false,
        serverCert: fs.readFileSync(tlsCertPath, 'utf8'),
        serverKey: fs.readFileSync(tlsKeyPath, 'utf8'),
      }
    : { disable: true },
})

let stopping = false
async function shutdown (reason, code = 0) {
  if (stopping) return
  stopping = true
  process.stderr.write(`gateway: stopping (${reason})\n`)
  // Never hang on a stuck stop: the lifetime bound must hold.
  setTimeout(() => process.exit(code), 3000).unref()
  try {
    control.close()
    await server.stop()
    await puppet.stop()
  } catch (e) {
    process.stderr.write(`gateway: error while stopping: ${e}\n`)
  }
  process.exit(code)
}

process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
process.on('unhandledRejection', e => process.stderr.write(`gateway: unhandled rejection: ${e?.stack ?? e}\n`))
setTimeout(() => shutdown(`lifetime of ${lifetimeSeconds}s reached`), lifetimeSeconds * 1000)
if (argv['exit-on-stdin-close']) {
  process.stdin.on('end', () => shutdown('stdin closed'))
  process.stdin.on('error', () => shutdown('stdin error'))
  process.stdin.resume()
}

async function main () {
  // Start and log in before serving so that READY means "a logged-in bot is there".
  await puppet.start()
  if (!puppet.isLoggedIn) {
    await new Promise(resolve => puppet.once('login', resolve))
  }
  await server.start()
  await new Promise((resolve, reject) => {
    control.once('error', reject)
    control.listen(controlPort, HOST, resolve)
  })
  process.stdout.write(
    `READY grpc=${grpcPort} control=${control.address().port} tls=${tlsOn ? 'on' : 'off'}\n`,
  )
}

main().catch(e => {
  process.stderr.write(`gateway: failed to start: ${e?.stack ?? e}\n`)
  shutdown('start failure', 1)
})
