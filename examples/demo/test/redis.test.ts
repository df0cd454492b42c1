import { behavesAsOneService } from './one-service.js'
import { cleanRedis, REDIS_URL, serviceTest } from './services.js'

await serviceTest('redis', 'WARDEN_STORE=redis: two processes behave as one service', (t) =>
  behavesAsOneService(t, {
    env: { WARDEN_STORE: 'redis', REDIS_URL },
    adapters: ['fastify', 'express'],
    clean: cleanRedis,
  }),
)
