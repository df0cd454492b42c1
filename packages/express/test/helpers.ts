export { Client, listen, open, SECRET, testWarden, tokenFor, until } from '@ws-warden/testing'
