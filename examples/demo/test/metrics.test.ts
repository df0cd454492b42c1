import t from 'tap'
import { createWarden } from '@ws-warden/core'
import { MemorySessionStore } from '@ws-warden/core/stores'
import { DemoMetrics } from '../src/metrics.js'
import { SECRET } from './helpers.js'

t.test('errors reported through the hooks are counted', async (t) => {
  const metrics = new DemoMetrics()
  const warden = createWarden({ tokens: { secret: SECRET }, hooks: metrics.hooks })
  t.teardown(() => warden.close())
  metrics.attach(warden)
  metrics.hooks.onError?.(new Error('store down'))
  metrics.hooks.onError?.(new Error('store down'))
  t.match(await metrics.render(), '\nws_warden_errors_total 2\n')
})

t.test('the cluster gauges keep their last value while the store does not answer', async (t) => {
  const metrics = new DemoMetrics()
  const sessions = new MemorySessionStore()
  const warden = createWarden({ tokens: { secret: SECRET }, stores: { sessions } })
  t.teardown(() => warden.close())
  metrics.attach(warden)
  t.match(await metrics.render(), '\nws_warden_cluster_connections 0\n')
  sessions.stats = () => Promise.reject(new Error('store down'))
  const text = await metrics.render()
  t.match(text, '\nws_warden_cluster_connections 0\n')
  t.match(text, '\nws_warden_cluster_channels 0\n')
  // Counted as the scrape fails, so shown from the next one on.
  t.match(
    await metrics.render(),
    /\nws_warden_store_errors_total\{store="sessions"\} [1-9]\d*\n/,
    'the scrape says why',
  )
})
