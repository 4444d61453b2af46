// Synthetic customer-service chat for one tenant: mixed Chinese / English, 5–200 chars,
// Zipf-distributed vocabulary with the usual customer-service words at controlled rates.
// Deterministic for a given seed.
import { rng } from './lib.mjs';

// Common Chinese characters for filler words. 退 款 榴 莲 are left out on purpose, so the
// measured terms (退款, 申请退款, 榴莲) occur only where the generator puts them.
const HAN =
  '的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要她出也得里后自以会家可下而过天去能对小多然于心学么之都好看起发当没成只如事把还用第样道想作种开美总从无情己面最女但现前些所同日手又行意动方期它头经长儿回位分爱老因很给名法间斯知世什两次使身者被高已亲其进此话常与活正感见明问力理尔点文几定本公特做外孩相西果走将月十实向声车全信重三机工物气每并别真打太新比才便夫再书部水像眼等体却加电主界门利海受听表德少克代员许稜先口由死安写性马光白或住难望教命花结乐色更拉东神记处让母父应直字场平报友关放至张认接告入笑内英军候民岁往何度山觉路带万男边风解叫任金快原吃妈变通师立象数四失满战远格士音轻目条呢病始达深完今提求清王化空业思切怎非找片罗钱紧吗语元喜曾离飞科言干流欢约各即指合反题必该论交终林请医晚制球决传画保读运及则房早院量苦火布品近坐产答星精视五连司巴奇管类未朋且婚台夜青北队久乎越观落尽形影红爸百令周吧识步希亚术留市半热送兴造谈容极随演收首根讲整式取照办强石古华拿计您装似足双妻尼转诉米称丽客南领节衣站黑刻统断福城故历惊脸选包紧争另建维绝树系伤示愿持千史谁准联妇纪基买志静阿诗独复痛消社算义竟确酒需单治卡幸兰念举仅钟怕共毛句息功官待究跟穿室易游程号居考突皮哪费倒价图具刚脑永歌响商礼细专黄块脚味灵改据般破引食仍存众注笔甚某沉血备习校默务土微娘须试怀料调广苏显赛查密议底列富梦错座参八除跑亮假印设线温虽掉京初养香停际致阳纸李纳验助激够严证帝饭忘趣支春集丈木研班普导顿睡展跳获艺六波察群皇段急庭创区奥器谢弟店否害草排背止组州朝封睛板角况曲馆育忙质河续哥呼若推境遇雨标姐充围案伦护冷警贝著雪索剧啊船险烟依斗值帮汉慢佛肯闻唱沙局伯族低玩资屋击速顾泪洲团圣旁堂兵七露园牛哭旅街劳型烈姑陈莫鱼异抱宝权鲁简态级票怪寻杀律胜份汽右洋范床舞秘午登楼贵吸责例追较职属渐左录丝牙党继托赶章智冲叶胡吉卖坚喝肉遗救修松临藏担戏善卫药悲敢靠伊村戴词森耳差短祖云规窗散迷油旧适乡架恩投弹铁博雷府压超负勒杂醒洗采毫嘴毕九冰既状乱景席珍童顶派素脱农疑练野按犯拍征坏骨余承置臓彩灯巨琴免环姆暗换技翻束增忍餐洛塞缺忆判欧层付阵玛批岛项狗休懂武革良恶恋委拥娜妙探呀营退摇弄桌熟诺宣银势奖宫忽套康供优课鸟喊降夏困刘罪亡鞋健模败伴守挥鲜财孤枪禁恐伙杰迹妹藸遍盖副坦牌江顺秋萨菜划授归浪听凡预奶雄升碃编典袋莱含盛济蒙棋端腿招释介烧误';
const HAN_POOL = [...new Set([...HAN].filter((c) => !'退款榴莲'.includes(c)))];

// Chinese function words and chat phrases, most frequent first (top of the Zipf ranking).
const ZH_COMMON = (
  '你好 您好 请问 谢谢 好的 可以 怎么 什么时候 已经 还没 收到 一下 我的 这个 那个 帮我 看看 麻烦 ' +
  '没问题 亲 在吗 是的 不是 为什么 多久 今天 明天 昨天 现在 马上 稍等 客户 商品 东西 问题 ' +
  '处理 时间 一直 联系 电话 信息 查询 确认 需要 希望 不好 满意 上次 之前 还是 应该 能不能 ' +
  '有没有 多少 价格 颜色 型号 库存 活动 会员 积分 包装 破损 少了 错了 坏了 不能用 催一下'
).split(' ');

// Customer-service terms with their per-message rate in Chinese messages.
const ZH_TERMS = [
  ['退款', 0.0245],
  ['申请退款', 0.0013],
  ['订单', 0.06],
  ['发货', 0.04],
  ['快递', 0.03],
  ['客服', 0.03],
  ['物流', 0.02],
  ['地址', 0.02],
  ['售后', 0.015],
  ['退货', 0.015],
  ['优惠券', 0.01],
  ['付款', 0.01],
  ['到账', 0.01],
  ['质量', 0.01],
  ['换货', 0.008],
  ['发票', 0.008],
  ['尺码', 0.007],
  ['申请售后', 0.003],
];

const EN_COMMON = (
  'the i to you my a is it and for please of in on this that not can be have with hi hello ' +
  'thanks thank what when where how why do does did was will would could your me we our ' +
  'there still yet just already today tomorrow yesterday now help need want know check ' +
  'item package product number account email phone payment card price size color ok yes ' +
  'no sorry problem issue received arrived wrong broken late again asap'
).split(' ');
const EN_TERMS = [
  ['refund', 0.062],
  ['order', 0.12],
  ['shipping', 0.06],
  ['delivery', 0.05],
  ['tracking', 0.03],
  ['return', 0.03],
  ['coupon', 0.02],
  ['exchange', 0.012],
  ['invoice', 0.01],
];

/** Zipf sampler over `n` ranks with exponent s (cumulative table + binary search). */
function zipf(n, s, rand) {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) cdf[i] = acc += 1 / (i + 1) ** s;
  for (let i = 0; i < n; i++) cdf[i] /= acc;
  return () => {
    const u = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/** Log-normal length with the given median, clamped. */
function lengthOf(rand, median, sigma, min, max) {
  const u1 = Math.max(rand(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rand());
  return Math.max(min, Math.min(max, Math.round(median * Math.exp(sigma * z))));
}

export const RARE_ZH = '榴莲';
export const RARE_EN = 'zeppelin';
export const RARE_COUNT = 10;

/**
 * A text generator. `text(i, n)` is the text of message i of n (the rare terms go into exactly
 * RARE_COUNT messages, spread evenly over the history).
 */
export function makeTextGenerator(seed = 42) {
  const rand = rng(seed);
  // Chinese vocabulary: the common phrases, then 6,000 generated 1–3 character words.
  const zhVocab = [...ZH_COMMON];
  const zhChar = zipf(HAN_POOL.length, 0.9, rand);
  const seen = new Set(zhVocab);
  while (zhVocab.length < ZH_COMMON.length + 6000) {
    const len = rand() < 0.2 ? 1 : rand() < 0.85 ? 2 : 3;
    let w = '';
    for (let k = 0; k < len; k++) w += HAN_POOL[zhChar()];
    if (!seen.has(w)) {
      seen.add(w);
      zhVocab.push(w);
    }
  }
  const zhWord = zipf(zhVocab.length, 1.0, rand);
  // English vocabulary: common words, then 8,000 generated pseudo-words.
  const syll =
    'ba be bi bo bu ca ce co da de di do ga ge go ka ke ko la le li lo lu ma me mi mo na ne ni no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi wa we ya yo za zo'.split(
      ' ',
    );
  const enVocab = [...EN_COMMON];
  const enSeen = new Set(enVocab);
  while (enVocab.length < EN_COMMON.length + 8000) {
    const k = 2 + Math.floor(rand() * 3);
    let w = '';
    for (let j = 0; j < k; j++) w += syll[Math.floor(rand() * syll.length)];
    if (!enSeen.has(w) && !w.includes('refund') && w !== RARE_EN) {
      enSeen.add(w);
      enVocab.push(w);
    }
  }
  const enWord = zipf(enVocab.length, 1.0, rand);
  const zhPunct = ['，', '。', '？', '！', '', '', '', ' '];
  const digits = () => String(Math.floor(1e9 + rand() * 9e9));

  function zhText(extraEnglish) {
    const target = lengthOf(rand, 18, 0.75, 5, 200);
    const parts = [];
    for (const [t, p] of ZH_TERMS) if (rand() < p) parts.push(t);
    if (parts.includes('订单') && rand() < 0.3) parts.push(`订单号${digits()}`);
    if (extraEnglish) {
      const w = rand() < 0.15 ? 'refund' : enVocab[enWord()];
      parts.push(rand() < 0.5 ? w : w.toUpperCase());
    }
    let len = parts.reduce((s, p) => s + p.length, 0);
    while (len < target) {
      const w = zhVocab[zhWord()];
      parts.push(w);
      len += w.length;
      if (rand() < 0.15) {
        const p = zhPunct[Math.floor(rand() * zhPunct.length)];
        parts.push(p);
        len += p.length;
      }
    }
    // Shuffle (Fisher–Yates) so the terms land anywhere in the message.
    for (let i = parts.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [parts[i], parts[j]] = [parts[j], parts[i]];
    }
    return parts.join('');
  }

  function enText() {
    const target = lengthOf(rand, 40, 0.75, 5, 200);
    const words = [];
    for (const [t, p] of EN_TERMS) if (rand() < p) words.push(t);
    if (words.includes('order') && rand() < 0.3) words.push(`#${digits()}`);
    let len = words.reduce((s, w) => s + w.length + 1, 0);
    while (len < target) {
      const w = enVocab[enWord()];
      words.push(w);
      len += w.length + 1;
    }
    for (let i = words.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [words[i], words[j]] = [words[j], words[i]];
    }
    let s = words.join(' ');
    s = s[0].toUpperCase() + s.slice(1);
    return s + (rand() < 0.5 ? '.' : rand() < 0.5 ? '?' : '');
  }

  return {
    text(i, n) {
      const r = rand();
      let t = r < 0.7 ? zhText(false) : r < 0.75 ? zhText(true) : enText();
      const step = Math.floor(n / RARE_COUNT);
      if (i % step === Math.floor(step / 2) && i / step < RARE_COUNT) {
        t = `${t.slice(0, 150)} ${RARE_ZH}${t.length % 2 ? '' : ' '}${RARE_EN}`;
      }
      return t.length > 200 ? t.slice(0, 200) : t;
    },
    rand,
  };
}
