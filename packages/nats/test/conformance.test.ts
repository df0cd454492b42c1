import t from 'tap'
import { storeConformance } from '@ws-warden/store-tests'
import { NatsBroker } from '../src/index.js'
import { NATS_URL, randomPrefix, sharedNats } from './helpers/nats.js'

const connection = await sharedNats(t)

if (connection !== undefined) {
  t.test('over a connection of its own', async (t) => {
    const kinds = await storeConformance({
      register: (name, fn) => void t.test(name, async () => fn()),
      createStores: async () => {
        const broker = new NatsBroker({ servers: NATS_URL, prefix: randomPrefix() })
        await broker.ready()
        return { broker, cleanup: () => broker.close() }
      },
    })
    t.same(kinds, ['broker'])
  })

  t.test('over a given connection', async (t) => {
    await storeConformance({
      register: (name, fn) => void t.test(name, async () => fn()),
      createStores: async () => {
        const broker = new NatsBroker({ connection, prefix: randomPrefix() })
        return { broker, cleanup: () => broker.close() }
      },
    })
  })
}
