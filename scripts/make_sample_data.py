#!/usr/bin/python3
"""Compose the shipped bilingual multi-turn sample set (data/sample-conversations.jsonl).

Every conversation is built from hand-written pieces in this file: a topic is a list of
question/answer pairs that read naturally in order, so a conversation of k turns takes k
consecutive pairs from one topic (starting anywhere). Some conversations get a system prompt.
A few generated arithmetic / unit / date topics add digits; a few answers carry emoji so the
tokenizer's byte fallback is exercised. Deterministic (seeded): run it again to get the same file.

Usage: /usr/bin/python3 scripts/make_sample_data.py [--out data/sample-conversations.jsonl] [--n 360]
"""
import argparse
import json
import random

SYSTEMS_ZH = [
    "你是一个乐于助人的中文助手，回答要简洁、准确。",
    "你是一名耐心的老师，请用通俗易懂的语言解释问题。",
    "你是星辰语义大模型，由中国电信人工智能研究院研发。",
    "请用简体中文回答，必要时分点说明。",
]
SYSTEMS_EN = [
    "You are a helpful assistant. Answer briefly and accurately.",
    "You are a patient teacher who explains things with simple examples.",
    "You are a careful software engineer. Prefer short, correct answers.",
    "Answer in plain English and keep each reply under five sentences.",
]

# Each topic: list of (question, answer) that follow each other naturally.
TOPICS_ZH = [
    [
        ("什么是机器学习？", "机器学习是让计算机从数据中学习规律的方法，不需要为每种情况手写规则。模型通过大量样本调整参数，从而对新数据做出预测。"),
        ("它和深度学习有什么关系？", "深度学习是机器学习的一个分支，使用多层神经网络自动提取特征。数据量大、算力充足时，深度学习通常效果更好。"),
        ("训练一个模型大概需要哪些步骤？", "一般包括：收集并清洗数据、划分训练集和验证集、选择模型结构、设定损失函数、用优化器迭代训练，最后在测试集上评估。"),
        ("什么是过拟合？", "过拟合是指模型把训练数据的噪声也记住了，在训练集上表现很好，在新数据上却变差。可以用正则化、早停或增加数据来缓解。"),
        ("学习率应该怎么设置？", "常见做法是先用较小的值（例如 3e-5 到 1e-4）做实验，再配合预热和余弦衰减。学习率太大损失会震荡，太小则收敛很慢。"),
        ("谢谢，你讲得很清楚。", "不客气！如果还有其他问题，随时可以继续问我。"),
    ],
    [
        ("北京有哪些值得去的景点？", "北京的经典景点有故宫、天坛、颐和园、八达岭长城和南锣鼓巷。第一次去的话，建议把故宫和长城排在前面。"),
        ("去长城应该选哪一段？", "八达岭交通方便、设施完善，但人比较多；慕田峪风景好、游客相对少；金山岭更适合喜欢徒步的人。"),
        ("什么季节去最合适？", "春季四月到五月和秋季九月到十月最舒服，天气凉爽，秋天的红叶也很漂亮。夏天炎热，冬天风大。"),
        ("需要提前预约吗？", "故宫需要提前在官方渠道实名预约，节假日往往几天前就约满了。长城部分景区也建议提前购票。"),
        ("大概安排几天比较好？", "如果只看主要景点，三到四天比较从容；想顺便逛胡同、博物馆和美食街，可以安排五天左右。"),
    ],
    [
        ("怎样才能养成早睡的习惯？", "可以先固定起床时间，再慢慢把入睡时间提前。睡前一小时放下手机，调暗灯光，让身体进入休息状态。"),
        ("睡前喝牛奶有用吗？", "温牛奶能带来放松的感觉，对一些人有帮助，但效果因人而异。更重要的是规律作息和安静的睡眠环境。"),
        ("午睡多久比较合适？", "一般二十到三十分钟最合适。时间太长容易进入深睡，醒来反而昏沉，还可能影响晚上的睡眠。"),
        ("周末可以补觉吗？", "偶尔多睡一会儿没问题，但不要比平时晚起太多，否则会打乱生物钟，周一更难早起。"),
    ],
    [
        ("番茄炒蛋怎么做？", "先把鸡蛋打散炒到半熟盛出，再把番茄切块下锅炒出汁，加少许盐和糖，最后倒回鸡蛋翻炒均匀即可。"),
        ("番茄要不要去皮？", "去皮口感更顺滑。可以在番茄顶部划十字，用开水烫一分钟，皮就很容易剥掉。不去皮也可以，看个人喜好。"),
        ("为什么要加糖？", "少量的糖可以中和番茄的酸味，让味道更柔和。糖不要放太多，一小勺就够了。"),
        ("可以加葱吗？", "可以，出锅前撒一点葱花，颜色更好看，也更香。"),
        ("这道菜适合配什么主食？", "番茄炒蛋最常见的搭配是白米饭，也可以拌面或者夹在馒头里吃。"),
    ],
    [
        ("Python 里列表和元组有什么区别？", "列表是可变的，可以增删元素；元组是不可变的，创建后不能修改。元组可以作为字典的键，列表不行。"),
        ("什么时候应该用元组？", "当一组数据不应该被修改时，例如坐标、配置项或函数返回的多个值，用元组更安全，也更省内存。"),
        ("怎样把列表转换成元组？", "直接调用 tuple()，例如 tuple([1, 2, 3]) 会得到 (1, 2, 3)。反过来用 list() 即可。"),
        ("列表推导式是什么？", "列表推导式是一种简洁的写法，比如 [x * x for x in range(5)] 会生成 [0, 1, 4, 9, 16]。"),
        ("它比 for 循环快吗？", "通常会快一些，因为循环在解释器内部执行，开销更小。不过可读性更重要，逻辑复杂时还是用普通循环。"),
        ("好的，我试试看。", "祝你编程顺利！遇到报错可以把错误信息发给我，我们一起分析。"),
    ],
    [
        ("怎么提高英语听力？", "每天坚持听二十到三十分钟适合自己水平的材料，比如慢速新闻或播客。先整体听，再对照原文精听。"),
        ("看美剧有帮助吗？", "有帮助，尤其是学习日常口语。建议先开英文字幕，熟悉后再关掉字幕，反复看同一集效果更好。"),
        ("单词总是记不住怎么办？", "可以用间隔重复的方法，在快要忘记时复习。把单词放到句子里记，比单独背更牢固。"),
        ("每天背多少个单词合适？", "对大多数人来说，每天二十到四十个新词比较合适，重点是坚持复习，而不是一次背很多。"),
    ],
    [
        ("为什么天空是蓝色的？", "阳光进入大气层后，波长较短的蓝光更容易被空气分子散射，散射到各个方向，所以我们看到的天空是蓝色的。"),
        ("那为什么日落时是红色的？", "日落时阳光要穿过更厚的大气层，蓝光在途中被散射掉了，剩下波长较长的红光和橙光到达我们的眼睛。"),
        ("火星上的天空是什么颜色？", "火星白天的天空偏黄褐色，因为大气中悬浮着细小的尘埃；有趣的是，火星的日落反而带一点蓝色。"),
        ("云为什么是白色的？", "云里的水滴比光的波长大得多，对各种颜色的光散射程度差不多，混合起来就是白色。"),
    ],
    [
        ("我想开始跑步，应该注意什么？", "先从快走和慢跑交替开始，每次二十分钟左右，每周三次。选一双合脚的跑鞋，跑前热身，跑后拉伸。"),
        ("跑步时膝盖疼怎么办？", "先停下来休息，不要硬撑。疼痛可能和跑姿、鞋子或跑量增加太快有关，持续疼痛要去看医生。"),
        ("多久能跑完五公里？", "如果循序渐进，大多数新手在八到十周内可以不停歇地跑完五公里。"),
        ("跑步前要吃东西吗？", "跑前一到两小时可以吃少量容易消化的食物，比如香蕉或面包。空腹跑长距离容易没力气。"),
        ("跑完步应该喝什么？", "普通的白开水就可以。跑得很久、出汗很多时，可以补充一些含电解质的饮料。"),
    ],
    [
        ("什么是分布式训练？", "分布式训练是把一个模型的训练任务分到多张显卡或多台机器上同时进行，以缩短训练时间或训练更大的模型。"),
        ("数据并行是怎么工作的？", "每张卡保存一份完整模型，各自处理不同的数据，然后把梯度求平均再更新参数，这样每张卡的模型保持一致。"),
        ("ZeRO 解决了什么问题？", "ZeRO 把优化器状态、梯度甚至参数切分到各张卡上，避免每张卡都保存完整副本，从而大幅降低显存占用。"),
        ("ZeRO 的三个阶段有什么区别？", "第一阶段切分优化器状态，第二阶段再切分梯度，第三阶段连参数也切分，显存越省，通信也越多。"),
        ("显存不够时还有什么办法？", "可以开启激活重计算、使用 bf16 混合精度、减小微批大小并增加梯度累积步数，或者把优化器状态卸载到内存。"),
    ],
    [
        ("给我推荐几本入门的历史书。", "可以看《明朝那些事儿》，语言轻松；《万历十五年》视角独特；想了解世界史可以读《全球通史》。"),
        ("《万历十五年》主要讲什么？", "它以万历十五年为切口，写了皇帝、大臣、将领和思想家等几个人物，揭示明朝制度上的深层问题。"),
        ("这本书难读吗？", "篇幅不长，叙述也比较生动，但需要一点耐心去理解作者的观点，适合慢慢读。"),
        ("读完之后还可以读什么？", "可以接着读《中国大历史》，同一位作者，用更宏观的视角梳理中国历史的脉络。"),
    ],
    [
        ("手机电池怎样用更耐久？", "尽量避免长时间满电或完全耗尽，电量保持在百分之二十到八十之间比较好。也不要在高温环境下充电。"),
        ("可以边充电边玩游戏吗？", "可以，但手机会发热，长期这样会加快电池老化。最好在充电时减少高负载使用。"),
        ("快充伤电池吗？", "正规的快充有温度和电流管理，对电池的影响不大。真正伤电池的是高温和劣质充电器。"),
        ("电池鼓包了怎么办？", "立即停止使用和充电，不要挤压或刺破，尽快到正规维修点更换电池。"),
    ],
    [
        ("如何写一封请假邮件？", "邮件要写清楚请假原因、起止时间和工作交接安排。语气礼貌，结尾表示感谢，并留下紧急联系方式。"),
        ("能给我一个简单的例子吗？", "王经理您好：因家中有事，我想于本周四、周五请假两天。手头工作已交给小李跟进，如有急事可电话联系我。谢谢！"),
        ("需要抄送给谁？", "通常抄送给直接合作的同事和人事部门，具体按公司的规定来。"),
        ("请假被拒绝了怎么办？", "可以先了解拒绝的原因，看看能否调整时间或安排好工作后再申请，沟通时保持冷静和诚恳。"),
    ],
]

TOPICS_EN = [
    [
        ("What is a transformer model?", "A transformer is a neural network built from attention layers. Each token looks at the other tokens to decide what matters, which lets the model capture long-range context."),
        ("Why is attention so useful?", "Attention lets every position gather information from any other position in one step, instead of passing it along a chain like a recurrent network does."),
        ("What does the feed-forward part do?", "After attention mixes information across tokens, the feed-forward network transforms each token on its own. Most of the parameters live there."),
        ("What is RoPE?", "Rotary position embedding rotates the query and key vectors by an angle that depends on the position, so their dot product depends on the relative distance."),
        ("And RMSNorm?", "RMSNorm rescales a vector by the root mean square of its entries and a learned weight. It is simpler than LayerNorm because it skips the mean subtraction."),
        ("Thanks, that helps!", "You're welcome! Happy to go deeper into any of these parts."),
    ],
    [
        ("How do I make a good cup of coffee at home?", "Start with freshly ground beans, about 15 grams per 250 ml of water. Use water just below boiling and let it brew for around four minutes."),
        ("What grind size should I use?", "It depends on the method: coarse for a French press, medium for drip, fine for espresso. A burr grinder gives a more even grind."),
        ("My coffee tastes bitter. Why?", "Bitterness usually means over-extraction: the grind is too fine, the water too hot, or the brew too long. Try a coarser grind first."),
        ("Should I store beans in the fridge?", "Better not. The fridge adds moisture and smells. Keep beans in an airtight container in a cool, dark cupboard and use them within a few weeks."),
        ("Any tips for latte art?", "Steam the milk until it is silky with tiny bubbles, pour from higher up first, then bring the jug close to the surface and wiggle gently. ☕"),
    ],
    [
        ("What's the difference between git merge and git rebase?", "Merge joins two branches with a merge commit and keeps the history as it happened. Rebase replays your commits on top of the other branch, giving a straight line of history."),
        ("When should I avoid rebasing?", "Avoid rebasing commits that others have already pulled, because it rewrites history and forces them to reconcile diverged copies."),
        ("How do I undo the last commit?", "Use `git reset --soft HEAD~1` to undo the commit but keep the changes staged, or `git revert HEAD` to add a new commit that undoes it safely."),
        ("What does git stash do?", "It saves your uncommitted changes on a stack and cleans the working tree, so you can switch branches. `git stash pop` brings them back."),
        ("How can I see who changed a line?", "Run `git blame FILE`; it shows the commit, author and date for every line."),
    ],
    [
        ("Can you help me plan a three-day trip to Paris?", "Sure. Day 1: the Louvre and a walk along the Seine. Day 2: the Eiffel Tower and Montmartre. Day 3: Musée d'Orsay and the Marais district."),
        ("Is the Louvre worth a full day?", "It is huge, so half a day with a plan works better than wandering. Pick a few wings, book a timed ticket, and go early."),
        ("Where should I stay?", "The Marais and the Latin Quarter are central and walkable. Saint-Germain is quieter but pricier."),
        ("How do I get around the city?", "The Métro is fast and covers everything; a carnet of tickets or a Navigo pass saves money. Walking is great for the central areas."),
        ("Any food I shouldn't miss?", "Try fresh croissants from a local bakery, a simple jambon-beurre, steak frites, and macarons. 🥐"),
        ("Great, thank you!", "Enjoy Paris! Bon voyage."),
    ],
    [
        ("How do plants make food?", "Plants use photosynthesis: chlorophyll captures sunlight, which powers the conversion of carbon dioxide and water into glucose and oxygen."),
        ("Where does that happen?", "Mostly in the leaves, inside chloroplasts, which are packed with chlorophyll."),
        ("Why are leaves green?", "Chlorophyll absorbs red and blue light well but reflects green light, so green is what reaches our eyes."),
        ("Why do leaves change color in autumn?", "As days shorten, trees stop making chlorophyll. The green fades and the yellow and orange pigments that were there all along show through."),
    ],
    [
        ("I get nervous before presentations. Any advice?", "Prepare well and rehearse out loud a few times. Nerves are normal; slow breathing before you start helps calm your body."),
        ("How do I remember what to say?", "Don't memorize a script. Learn the structure: three or four key points, each with one example. Use the slides as prompts."),
        ("What if someone asks a question I can't answer?", "It's fine to say you don't know and offer to follow up. That sounds more credible than guessing."),
        ("How long should the slides be?", "A rough rule is one slide per one or two minutes, with few words per slide and large, readable figures."),
    ],
    [
        ("What is the difference between a process and a thread?", "A process has its own memory space; threads live inside a process and share its memory. Threads are cheaper to create but need care with shared data."),
        ("What is a race condition?", "A race condition happens when the result depends on the timing of threads touching shared data, for example two threads incrementing a counter without a lock."),
        ("How do I prevent it?", "Protect shared data with a mutex, use atomic operations, or avoid sharing by giving each thread its own data and combining results at the end."),
        ("What's a deadlock?", "Two or more threads each wait for a lock the other holds, so none can proceed. Taking locks in a fixed global order prevents it."),
        ("Is async the same as multithreading?", "No. Async code interleaves many tasks on one thread while they wait for I/O; multithreading runs code in parallel on several threads."),
    ],
    [
        ("What's a healthy breakfast?", "Something with protein, fiber and some fruit: oatmeal with nuts and berries, eggs with whole-grain toast, or yogurt with fruit."),
        ("Is skipping breakfast bad?", "Not necessarily. Some people do fine without it. What matters more is the overall quality of food during the day."),
        ("How much water should I drink?", "Needs vary, but around 1.5 to 2 liters a day from drinks is a common guide. Drink more when it's hot or you exercise."),
        ("Are smoothies healthy?", "They can be, if they're mostly fruit and vegetables without added sugar. Whole fruit keeps more fiber and fills you up longer."),
    ],
    [
        ("How does a hash map work?", "It turns each key into an index with a hash function and stores the value in an array slot. Lookups take constant time on average."),
        ("What happens when two keys collide?", "The table must resolve it, either by chaining entries in a small list per slot or by probing for another free slot."),
        ("Why does a hash map resize?", "When it fills up, collisions become frequent and operations slow down, so it allocates a bigger array and reinserts every entry."),
        ("Is iteration order guaranteed?", "It depends on the language. Python dicts keep insertion order; Java's HashMap makes no promise; a LinkedHashMap does."),
    ],
    [
        ("Write a haiku about the sea.", "Grey waves fold and break\nsalt wind carries gull voices\nthe tide keeps its time"),
        ("Now one about autumn.", "Maple leaves let go\nthe path turns red under feet\ncold light, longer nights 🍁"),
        ("Can you explain the haiku form?", "A haiku has three lines of five, seven and five syllables, and traditionally points to a season with a key word."),
        ("Write one about coding.", "Cursor blinks and waits\none missing bracket found late\nthe tests turn to green"),
    ],
    [
        ("How do I start saving money?", "Track your spending for a month to see where money goes, then set a fixed amount to move into savings right after each payday."),
        ("How big should an emergency fund be?", "A common target is three to six months of essential expenses, kept in an easy-to-access account."),
        ("Should I pay off debt first or save?", "Build a small buffer first, then pay down high-interest debt quickly, because its interest usually outruns any savings return."),
        ("What is compound interest?", "Interest earned on both the original amount and the interest already added. At 5% a year, 1000 becomes about 1629 after 10 years."),
    ],
    [
        ("Can you explain what a learning rate warmup is?", "Warmup starts training with a small learning rate and raises it linearly over the first steps, which keeps early updates from destabilizing the model."),
        ("Why does cosine decay help?", "It lowers the learning rate smoothly toward the end, letting the model settle into a good minimum instead of bouncing around."),
        ("What is gradient clipping?", "If the gradient norm exceeds a threshold, such as 1.0, the whole gradient is scaled down to that norm. It guards against rare huge updates."),
        ("And gradient accumulation?", "You run several micro-batches, add up their gradients, and update once. It simulates a larger batch when memory is limited."),
        ("Does it change the result?", "Done right, the update equals the one from the large batch: the loss must be normalized by the total number of tokens, not per micro-batch."),
    ],
]

# Small generated topics: digits, units, dates (exercise split_digits).
def arithmetic_topic(rng, zh):
    turns = []
    for _ in range(rng.randint(2, 5)):
        a, b = rng.randint(12, 9999), rng.randint(3, 999)
        op = rng.choice(["+", "-", "*"])
        val = a + b if op == "+" else a - b if op == "-" else a * b
        if zh:
            q = rng.choice([f"{a} {op} {b} 等于多少？", f"帮我算一下 {a}{op}{b}。", f"请计算：{a} {op} {b}"])
            ans = f"{a} {op} {b} = {val}。"
        else:
            q = rng.choice([f"What is {a} {op} {b}?", f"Compute {a}{op}{b}, please.", f"Quick one: {a} {op} {b}"])
            ans = f"{a} {op} {b} = {val}."
        turns.append((q, ans))
    return turns


def units_topic(rng, zh):
    turns = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["km", "kg", "c"])
        if kind == "km":
            x = rng.randint(1, 500)
            mi = x * 0.621371
            turns.append((f"{x} 公里是多少英里？", f"{x} 公里约等于 {mi:.2f} 英里。") if zh else
                         (f"How many miles is {x} km?", f"{x} km is about {mi:.2f} miles."))
        elif kind == "kg":
            x = rng.randint(1, 200)
            lb = x * 2.20462
            turns.append((f"{x} 千克等于多少磅？", f"{x} 千克约为 {lb:.1f} 磅。") if zh else
                         (f"Convert {x} kg to pounds.", f"{x} kg is about {lb:.1f} lb."))
        else:
            c = rng.randint(-30, 45)
            f = c * 9 / 5 + 32
            turns.append((f"{c} 摄氏度是多少华氏度？", f"{c}°C 等于 {f:.1f}°F。") if zh else
                         (f"What is {c} degrees Celsius in Fahrenheit?", f"{c}°C is {f:.1f}°F."))
    return turns


def date_topic(rng, zh):
    import datetime
    turns = []
    for _ in range(rng.randint(1, 3)):
        d = datetime.date(rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28))
        days = rng.randint(1, 400)
        e = d + datetime.timedelta(days=days)
        wk_zh = "一二三四五六日"[e.weekday()]
        if zh:
            turns.append((f"{d.year}年{d.month}月{d.day}日之后的第 {days} 天是哪一天？",
                          f"是 {e.year} 年 {e.month} 月 {e.day} 日，星期{wk_zh}。"))
        else:
            turns.append((f"What date is {days} days after {d.isoformat()}?",
                          f"It is {e.isoformat()}, a {e.strftime('%A')}."))
    return turns


def compose(rng, n):
    convs = []
    for i in range(n):
        zh = i % 2 == 0
        r = rng.random()
        if r < 0.72:
            topic = rng.choice(TOPICS_ZH if zh else TOPICS_EN)
            k = rng.randint(1, min(6, len(topic)))
            start = rng.randint(0, len(topic) - k)
            turns = topic[start:start + k]
        elif r < 0.84:
            turns = arithmetic_topic(rng, zh)
        elif r < 0.94:
            turns = units_topic(rng, zh)
        else:
            turns = date_topic(rng, zh)
        conv = {}
        if rng.random() < 0.35:
            conv["system"] = rng.choice(SYSTEMS_ZH if zh else SYSTEMS_EN)
        dialog = []
        for q, a in turns[:6]:
            dialog.append({"role": "user", "content": q})
            dialog.append({"role": "bot", "content": a})
        conv["dialog"] = dialog
        conv["multiturn"] = len(turns) > 1
        conv["tool"] = False
        convs.append(conv)
    return convs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="data/sample-conversations.jsonl")
    ap.add_argument("--n", type=int, default=360)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    convs = compose(rng, args.n)
    with open(args.out, "w", encoding="utf-8") as f:
        for c in convs:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    turns = [len(c["dialog"]) // 2 for c in convs]
    print(f"wrote {len(convs)} conversations to {args.out}: turns {min(turns)}-{max(turns)}, "
          f"{sum('system' in c for c in convs)} with a system prompt")


if __name__ == "__main__":
    main()
