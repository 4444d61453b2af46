import { z } from 'zod';

/** IM platforms AstrDesk knows. AstrBot adapter names map onto these in the plugin. */
export const PLATFORMS = [
  'qq',
  'qq_official',
  'wecom',
  'wechat',
  'wechat_official',
  'telegram',
  'discord',
  'lark',
  'dingtalk',
  'slack',
  'kook',
  'line',
  'mattermost',
  'misskey',
  'webchat',
  'other',
] as const;
export const Platform = z.enum(PLATFORMS).meta({ id: 'Platform' });
export type Platform = z.infer<typeof Platform>;
